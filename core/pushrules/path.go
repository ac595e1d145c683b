package pushrules

// lookup follows path through nested JSON objects decoded into
// map[string]any, reporting whether the property exists.
func lookup(root map[string]any, path []string) (any, bool) {
	var v any = root
	for _, p := range path {
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[p]; !ok {
			return nil, false
		}
	}
	return v, true
}
