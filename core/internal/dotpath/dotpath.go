// Package dotpath splits the spec's dot-separated property paths (appendix
// "Dot-separated property paths"), which push rule condition keys and,
// since MSC3980, a filter's event_fields use alike: "." separates property
// names, "\." is a literal dot and "\\" a literal backslash.
package dotpath

import "strings"

// Split splits a dot-separated property path into property names: "\." is a
// literal dot and "\\" a literal backslash; any other backslash stands for
// itself. An empty path is one empty name.
func Split(path string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(path); i++ {
		c := path[i]
		switch {
		case c == '\\' && i+1 < len(path) && (path[i+1] == '.' || path[i+1] == '\\'):
			i++
			cur.WriteByte(path[i])
		case c == '.':
			parts = append(parts, cur.String())
			cur.Reset()
		default:
			cur.WriteByte(c)
		}
	}
	return append(parts, cur.String())
}
