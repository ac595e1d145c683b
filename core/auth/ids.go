package auth

import "hearth/core/mxid"

// ValidUserID reports whether s is a user ID the auth rules accept: "@", a
// non-empty localpart without ':' or control characters, ':', and a server
// name, at most 255 bytes in all. It is [mxid.ValidUserID], kept here for
// the callers that read it as part of the auth rules.
func ValidUserID(s string) bool { return mxid.ValidUserID(s) }
