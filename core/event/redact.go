package event

import (
	"fmt"

	"hearth/core/canonicaljson"
	"hearth/core/roomversion"
)

// Redact returns the redacted form of the event raw under room version v, as
// canonical JSON: the keys the version's redaction algorithm keeps (room
// version specs, "Redactions"), and nothing else. It is a pure key filter:
// "signatures" and "hashes" survive, "unsigned" and a top-level "redacts"
// never do, and no missing key is added.
//
// Redaction is what servers sign and what the reference hash covers, and it
// is how a server strips an event whose content hash does not match.
func Redact(raw []byte, v *roomversion.Version) ([]byte, error) {
	if v == nil {
		return nil, errNilVersion
	}
	canon, err := canonicaljson.AppendCanonical(make([]byte, 0, len(raw)), raw, v.StrictCanonicalJSON)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	typ, err := topLevelType(canon)
	if err != nil {
		return nil, err
	}
	out, err := appendRedacted(make([]byte, 0, len(canon)), canon, v, typ, true)
	if err != nil {
		return nil, fmt.Errorf("%w: redact: %v", ErrInvalid, err)
	}
	return out, nil
}

// Redacted returns the event as the redaction algorithm of its room version
// leaves it, with the same event ID: what a server keeps of an event that was
// redacted or whose content hash did not match.
func (p *PDU) Redacted() (*PDU, error) {
	red, err := appendRedacted(make([]byte, 0, len(p.canon)), p.canon, p.version, p.f.Type, true)
	if err != nil {
		return nil, fmt.Errorf("%w: redact: %v", ErrInvalid, err)
	}
	q := &PDU{version: p.version, id: p.id, raw: red, canon: red, trusted: p.trusted}
	if err := q.decodeCanonical(); err != nil {
		return nil, err
	}
	return q, nil
}

// topLevelType reads the "type" of a canonical event for redaction, which
// needs it before it reaches the key (content sorts before type). A missing
// type selects no content rules; content that is not an object is refused.
func topLevelType(canon []byte) (string, error) {
	s, err := newObjectScanner(canon)
	if err != nil {
		return "", fmt.Errorf("%w: event is not a JSON object", ErrInvalid)
	}
	typ := ""
	for {
		m, ok, err := s.next()
		if err != nil {
			return "", fmt.Errorf("%w: %v", ErrInvalid, err)
		}
		if !ok {
			return typ, nil
		}
		switch string(m.key(canon)) {
		case `"content"`:
			if !isObject(m.value(canon)) {
				return "", fmt.Errorf("%w: content is not an object", ErrInvalid)
			}
		case `"type"`:
			if !isString(m.value(canon)) {
				return "", fmt.Errorf("%w: type is not a string", ErrInvalid)
			}
			if typ, err = unquote(m.value(canon)); err != nil {
				return "", fmt.Errorf("%w: type: %v", ErrInvalid, err)
			}
		}
	}
}

// appendRedacted appends the redacted form of the canonical event canon of
// type typ to dst. With keepSigs false it also drops "signatures", giving
// the bytes that event signatures and the reference hash cover. The output
// is canonical because filtering a sorted object keeps it sorted.
func appendRedacted(dst, canon []byte, v *roomversion.Version, typ string, keepSigs bool) ([]byte, error) {
	s, err := newObjectScanner(canon)
	if err != nil {
		return nil, err
	}
	dst = append(dst, '{')
	first := true
	for {
		m, ok, err := s.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		key := m.key(canon)
		if !keepTopLevel(key, v) || (!keepSigs && string(key) == `"signatures"`) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		if string(key) != `"content"` {
			dst = append(dst, canon[m.start:m.end]...)
			continue
		}
		dst = append(dst, canon[m.start:m.colon+1]...)
		if dst, err = appendRedactedContent(dst, m.value(canon), v, typ); err != nil {
			return nil, err
		}
	}
	return append(dst, '}'), nil
}

// keepTopLevel reports whether redaction keeps the top-level key (quoted, in
// canonical form).
func keepTopLevel(key []byte, v *roomversion.Version) bool {
	switch string(key) {
	case `"event_id"`, `"type"`, `"room_id"`, `"sender"`, `"state_key"`, `"content"`,
		`"hashes"`, `"signatures"`, `"depth"`, `"prev_events"`, `"auth_events"`, `"origin_server_ts"`:
		return true
	case `"prev_state"`, `"origin"`, `"membership"`:
		// MSC2176 (room version 11) stopped protecting these.
		return !v.UpdatedRedactionRules
	}
	return false
}

// contentRule is what redaction does with one key of content.
type contentRule int

const (
	dropKey contentRule = iota
	keepKey
	// keepSignedOnly keeps only the "signed" member of the value
	// (third_party_invite of m.room.member from room version 11).
	keepSignedOnly
)

// contentKeyRule returns the rule for the content key (quoted, canonical) of
// an event of type typ under room version v.
func contentKeyRule(v *roomversion.Version, typ string, key []byte) contentRule {
	k := string(key)
	keepIf := func(ok bool) contentRule {
		if ok {
			return keepKey
		}
		return dropKey
	}
	switch typ {
	case "m.room.member":
		switch k {
		case `"membership"`:
			return keepKey
		case `"join_authorised_via_users_server"`:
			return keepIf(v.RedactKeepsJoinAuthorisedVia)
		case `"third_party_invite"`:
			if v.UpdatedRedactionRules {
				return keepSignedOnly
			}
		}
	case "m.room.create":
		// From room version 11 the whole content of the create event is
		// protected (MSC2176); before, only creator.
		return keepIf(v.UpdatedRedactionRules || k == `"creator"`)
	case "m.room.join_rules":
		return keepIf(k == `"join_rule"` || (k == `"allow"` && v.RestrictedJoins))
	case "m.room.power_levels":
		switch k {
		case `"ban"`, `"events"`, `"events_default"`, `"kick"`, `"redact"`, `"state_default"`, `"users"`, `"users_default"`:
			return keepKey
		case `"invite"`:
			return keepIf(v.UpdatedRedactionRules)
		}
	case "m.room.aliases":
		return keepIf(k == `"aliases"` && v.SpecialCaseAliases)
	case "m.room.history_visibility":
		return keepIf(k == `"history_visibility"`)
	case "m.room.redaction":
		return keepIf(k == `"redacts"` && v.UpdatedRedactionRules)
	}
	return dropKey
}

// appendRedactedContent appends the redacted form of the canonical content
// object content to dst.
func appendRedactedContent(dst, content []byte, v *roomversion.Version, typ string) ([]byte, error) {
	if typ == "m.room.create" && v.UpdatedRedactionRules {
		if !isObject(content) {
			return nil, errMalformed
		}
		return append(dst, content...), nil
	}
	s, err := newObjectScanner(content)
	if err != nil {
		return nil, err
	}
	dst = append(dst, '{')
	first := true
	for {
		m, ok, err := s.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		var kept []byte
		switch contentKeyRule(v, typ, m.key(content)) {
		case dropKey:
			continue
		case keepKey:
			kept = content[m.start:m.end]
		case keepSignedOnly:
			val := m.value(content)
			if !isObject(val) {
				continue
			}
			signed, found, err := findMember(val, "signed")
			if err != nil {
				return nil, err
			}
			if !found {
				continue
			}
			if !first {
				dst = append(dst, ',')
			}
			first = false
			dst = append(dst, content[m.start:m.colon+1]...)
			dst = append(dst, '{')
			dst = append(dst, val[signed.start:signed.end]...)
			dst = append(dst, '}')
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, kept...)
	}
	return append(dst, '}'), nil
}
