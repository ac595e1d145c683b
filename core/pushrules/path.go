package pushrules

import "strings"

// splitPath splits a dot-separated property path (spec appendix
// "Dot-separated property paths") into property names: "\." is a literal
// dot and "\\" a literal backslash; any other backslash stands for itself.
func splitPath(key string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		switch {
		case c == '\\' && i+1 < len(key) && (key[i+1] == '.' || key[i+1] == '\\'):
			i++
			cur.WriteByte(key[i])
		case c == '.':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, cur.String())
}

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
