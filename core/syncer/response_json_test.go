package syncer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// The ref types are the /sync types as they were encoded before
// AppendJSON: the same fields and tags, through encoding/json, with the
// old MarshalJSON methods that turn no events into []. They are the
// reference the hand-written encoder is compared with.
type (
	refResponse struct {
		NextBatch              string         `json:"next_batch"`
		Rooms                  refRooms       `json:"rooms"`
		Presence               refEventBatch  `json:"presence"`
		AccountData            refEventBatch  `json:"account_data"`
		ToDevice               refEventBatch  `json:"to_device"`
		DeviceLists            refDeviceLists `json:"device_lists"`
		OneTimeKeysCount       map[string]int `json:"device_one_time_keys_count,omitzero"`
		UnusedFallbackKeyTypes []string       `json:"device_unused_fallback_key_types,omitzero"`
	}
	refRooms struct {
		Join   map[string]*refJoinedRoom  `json:"join"`
		Invite map[string]*refInvitedRoom `json:"invite"`
		Knock  map[string]*refKnockedRoom `json:"knock"`
		Leave  map[string]*refLeftRoom    `json:"leave"`
	}
	refEventBatch struct {
		Events []json.RawMessage `json:"events"`
	}
	refJoinedRoom struct {
		Summary             refSummary       `json:"summary"`
		State               refEventBatch    `json:"state"`
		Timeline            refTimeline      `json:"timeline"`
		Ephemeral           refEventBatch    `json:"ephemeral"`
		AccountData         refEventBatch    `json:"account_data"`
		UnreadNotifications *refUnreadCounts `json:"unread_notifications,omitempty"`
	}
	refSummary struct {
		Heroes             []string `json:"m.heroes,omitempty"`
		JoinedMemberCount  *int     `json:"m.joined_member_count,omitempty"`
		InvitedMemberCount *int     `json:"m.invited_member_count,omitempty"`
	}
	refTimeline struct {
		Events    []json.RawMessage `json:"events"`
		Limited   bool              `json:"limited"`
		PrevBatch string            `json:"prev_batch,omitempty"`
	}
	refUnreadCounts struct {
		HighlightCount    int `json:"highlight_count"`
		NotificationCount int `json:"notification_count"`
	}
	refInvitedRoom struct {
		InviteState refEventBatch `json:"invite_state"`
	}
	refKnockedRoom struct {
		KnockState refEventBatch `json:"knock_state"`
	}
	refLeftRoom struct {
		State       refEventBatch `json:"state"`
		Timeline    refTimeline   `json:"timeline"`
		AccountData refEventBatch `json:"account_data"`
	}
	refDeviceLists struct {
		Changed []string `json:"changed,omitempty"`
		Left    []string `json:"left,omitempty"`
	}
)

func (b refEventBatch) MarshalJSON() ([]byte, error) {
	type plain refEventBatch
	if b.Events == nil {
		b.Events = []json.RawMessage{}
	}
	return json.Marshal(plain(b))
}

func (t refTimeline) MarshalJSON() ([]byte, error) {
	type plain refTimeline
	if t.Events == nil {
		t.Events = []json.RawMessage{}
	}
	return json.Marshal(plain(t))
}

// reference converts r to the ref types. Nil room maps become empty ones:
// AppendJSON writes them as {} on purpose, where encoding/json wrote null.
func reference(r *Response) *refResponse {
	out := &refResponse{
		NextBatch:              r.NextBatch,
		Rooms:                  refRooms{Join: map[string]*refJoinedRoom{}, Invite: map[string]*refInvitedRoom{}, Knock: map[string]*refKnockedRoom{}, Leave: map[string]*refLeftRoom{}},
		Presence:               refEventBatch(r.Presence),
		AccountData:            refEventBatch(r.AccountData),
		ToDevice:               refEventBatch(r.ToDevice),
		DeviceLists:            refDeviceLists(r.DeviceLists),
		OneTimeKeysCount:       r.OneTimeKeysCount,
		UnusedFallbackKeyTypes: r.UnusedFallbackKeyTypes,
	}
	for id, jr := range r.Rooms.Join {
		var ref *refJoinedRoom
		if jr != nil {
			ref = &refJoinedRoom{
				Summary:             refSummary(jr.Summary),
				State:               refEventBatch(jr.State),
				Timeline:            refTimeline(jr.Timeline),
				Ephemeral:           refEventBatch(jr.Ephemeral),
				AccountData:         refEventBatch(jr.AccountData),
				UnreadNotifications: (*refUnreadCounts)(jr.UnreadNotifications),
			}
		}
		out.Rooms.Join[id] = ref
	}
	for id, ir := range r.Rooms.Invite {
		var ref *refInvitedRoom
		if ir != nil {
			ref = &refInvitedRoom{InviteState: refEventBatch(ir.InviteState)}
		}
		out.Rooms.Invite[id] = ref
	}
	for id, kr := range r.Rooms.Knock {
		var ref *refKnockedRoom
		if kr != nil {
			ref = &refKnockedRoom{KnockState: refEventBatch(kr.KnockState)}
		}
		out.Rooms.Knock[id] = ref
	}
	for id, lr := range r.Rooms.Leave {
		var ref *refLeftRoom
		if lr != nil {
			ref = &refLeftRoom{State: refEventBatch(lr.State), Timeline: refTimeline(lr.Timeline), AccountData: refEventBatch(lr.AccountData)}
		}
		out.Rooms.Leave[id] = ref
	}
	return out
}

// TestResponseJSONFields checks that the ref types still mirror the real
// ones field for field, tag for tag: a field added to response.go must be
// added to the ref types, the generator below and AppendJSON.
func TestResponseJSONFields(t *testing.T) {
	pairs := []struct{ real, ref any }{
		{Response{}, refResponse{}},
		{Rooms{}, refRooms{}},
		{EventBatch{}, refEventBatch{}},
		{JoinedRoom{}, refJoinedRoom{}},
		{Summary{}, refSummary{}},
		{Timeline{}, refTimeline{}},
		{UnreadCounts{}, refUnreadCounts{}},
		{InvitedRoom{}, refInvitedRoom{}},
		{KnockedRoom{}, refKnockedRoom{}},
		{LeftRoom{}, refLeftRoom{}},
		{DeviceLists{}, refDeviceLists{}},
	}
	for _, p := range pairs {
		real, ref := reflect.TypeOf(p.real), reflect.TypeOf(p.ref)
		if real.NumField() != ref.NumField() {
			t.Errorf("%s has %d fields, %s %d", real, real.NumField(), ref, ref.NumField())
			continue
		}
		for i := range real.NumField() {
			f, g := real.Field(i), ref.Field(i)
			refType := strings.ReplaceAll(g.Type.String(), "syncer.ref", "syncer.")
			if f.Name != g.Name || f.Tag != g.Tag || f.Type.String() != refType {
				t.Errorf("%s field %d is %s %s `%s`, %s has %s %s `%s`", real, i, f.Name, f.Type, f.Tag, ref, g.Name, g.Type, g.Tag)
			}
		}
	}
}

// checkAgainstReference checks that out, AppendJSON's encoding of r, is
// valid JSON with the same value as encoding/json's encoding of r's ref
// types, and even the same bytes once <, > and & are HTML-escaped as
// encoding/json escapes them (for events that are compact, as all the ones
// here are).
func checkAgainstReference(t *testing.T, r *Response, out []byte) {
	t.Helper()
	if !json.Valid(out) {
		t.Fatalf("invalid JSON: %s", out)
	}
	old, err := json.Marshal(reference(r))
	if err != nil {
		t.Fatalf("reference: %v", err)
	}
	var got, want any
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(old, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("values differ:\n got %s\nwant %s", out, old)
	}
	var escaped bytes.Buffer
	json.HTMLEscape(&escaped, out)
	if !bytes.Equal(escaped.Bytes(), old) {
		t.Fatalf("bytes differ after HTML escaping:\n got %s\nwant %s", escaped.Bytes(), old)
	}
}

func intp(n int) *int { return &n }

func TestAppendJSON(t *testing.T) {
	const (
		emptyRooms = `"rooms":{"join":{},"invite":{},"knock":{},"leave":{}}`
		emptyRest  = `"presence":{"events":[]},"account_data":{"events":[]},"to_device":{"events":[]},"device_lists":{}`
		emptyRoom  = `{"summary":{},"state":{"events":[]},"timeline":{"events":[],"limited":false},"ephemeral":{"events":[]},"account_data":{"events":[]}}`
		ev1        = `{"type":"m.room.message","content":{"body":"<b>&amp;</b>"}}`
		ev2        = `{"type":"m.typing","content":{"user_ids":["@a:hs"]}}`
	)
	tests := []struct {
		name string
		r    Response
		want string
		// refFails is set where encoding/json fails outright (an empty
		// RawMessage), so there is no reference to compare with.
		refFails bool
	}{
		{
			name: "zero value: nil maps and slices",
			r:    Response{},
			want: `{"next_batch":"",` + emptyRooms + `,` + emptyRest + `}`,
		},
		{
			name: "empty maps and slices",
			r: Response{
				NextBatch:              "s1_2_3",
				Rooms:                  newRooms(),
				Presence:               EventBatch{Events: []json.RawMessage{}},
				DeviceLists:            DeviceLists{Changed: []string{}, Left: []string{}},
				OneTimeKeysCount:       map[string]int{},
				UnusedFallbackKeyTypes: []string{},
			},
			want: `{"next_batch":"s1_2_3",` + emptyRooms + `,` + emptyRest +
				`,"device_one_time_keys_count":{},"device_unused_fallback_key_types":[]}`,
		},
		{
			name: "top-level sections",
			r: Response{
				NextBatch:              "s9",
				Presence:               EventBatch{Events: []json.RawMessage{json.RawMessage(ev1)}},
				AccountData:            EventBatch{Events: []json.RawMessage{json.RawMessage(ev1), json.RawMessage(ev2)}},
				ToDevice:               EventBatch{Events: []json.RawMessage{json.RawMessage(ev2)}},
				DeviceLists:            DeviceLists{Changed: []string{"@a:hs", "@b:hs"}, Left: []string{"@c:hs"}},
				OneTimeKeysCount:       map[string]int{"signed_curve25519": 50, "curve25519": 0, "a\"b": -1},
				UnusedFallbackKeyTypes: []string{"signed_curve25519"},
			},
			want: `{"next_batch":"s9",` + emptyRooms +
				`,"presence":{"events":[` + ev1 + `]}` +
				`,"account_data":{"events":[` + ev1 + `,` + ev2 + `]}` +
				`,"to_device":{"events":[` + ev2 + `]}` +
				`,"device_lists":{"changed":["@a:hs","@b:hs"],"left":["@c:hs"]}` +
				`,"device_one_time_keys_count":{"a\"b":-1,"curve25519":0,"signed_curve25519":50}` +
				`,"device_unused_fallback_key_types":["signed_curve25519"]}`,
		},
		{
			name: "device lists: changed only",
			r:    Response{DeviceLists: DeviceLists{Changed: []string{"@a:hs"}}},
			want: `{"next_batch":"",` + emptyRooms + `,"presence":{"events":[]},"account_data":{"events":[]},"to_device":{"events":[]},"device_lists":{"changed":["@a:hs"]}}`,
		},
		{
			name: "device lists: left only",
			r:    Response{DeviceLists: DeviceLists{Left: []string{"@a:hs"}}},
			want: `{"next_batch":"",` + emptyRooms + `,"presence":{"events":[]},"account_data":{"events":[]},"to_device":{"events":[]},"device_lists":{"left":["@a:hs"]}}`,
		},
		{
			name: "joined room with every field",
			r: Response{Rooms: Rooms{Join: map[string]*JoinedRoom{"!r:hs": {
				Summary:             Summary{Heroes: []string{"@a:hs", "@b:hs"}, JoinedMemberCount: intp(3), InvitedMemberCount: intp(0)},
				State:               EventBatch{Events: []json.RawMessage{json.RawMessage(ev1)}},
				Timeline:            Timeline{Events: []json.RawMessage{json.RawMessage(ev1), json.RawMessage(ev2)}, Limited: true, PrevBatch: "t1-2"},
				Ephemeral:           EventBatch{Events: []json.RawMessage{json.RawMessage(ev2)}},
				AccountData:         EventBatch{Events: []json.RawMessage{json.RawMessage(ev1)}},
				UnreadNotifications: &UnreadCounts{HighlightCount: 1, NotificationCount: 7},
			}}}},
			want: `{"next_batch":"","rooms":{"join":{"!r:hs":{` +
				`"summary":{"m.heroes":["@a:hs","@b:hs"],"m.joined_member_count":3,"m.invited_member_count":0}` +
				`,"state":{"events":[` + ev1 + `]}` +
				`,"timeline":{"events":[` + ev1 + `,` + ev2 + `],"limited":true,"prev_batch":"t1-2"}` +
				`,"ephemeral":{"events":[` + ev2 + `]}` +
				`,"account_data":{"events":[` + ev1 + `]}` +
				`,"unread_notifications":{"highlight_count":1,"notification_count":7}}}` +
				`,"invite":{},"knock":{},"leave":{}},` + emptyRest + `}`,
		},
		{
			name: "joined rooms: empty room, zero counts, summary parts, sorted",
			r: Response{Rooms: Rooms{Join: map[string]*JoinedRoom{
				"!c:hs": {},
				"!a:hs": {UnreadNotifications: &UnreadCounts{}},
				"!b:hs": {Summary: Summary{Heroes: []string{}, InvitedMemberCount: intp(2)}},
				"!d:hs": {Summary: Summary{JoinedMemberCount: intp(1)}},
				"!e:hs": {Summary: Summary{Heroes: []string{"@a:hs"}}},
			}}},
			want: `{"next_batch":"","rooms":{"join":{` +
				`"!a:hs":{"summary":{},"state":{"events":[]},"timeline":{"events":[],"limited":false},"ephemeral":{"events":[]},"account_data":{"events":[]},"unread_notifications":{"highlight_count":0,"notification_count":0}}` +
				`,"!b:hs":{"summary":{"m.invited_member_count":2},"state":{"events":[]},"timeline":{"events":[],"limited":false},"ephemeral":{"events":[]},"account_data":{"events":[]}}` +
				`,"!c:hs":` + emptyRoom +
				`,"!d:hs":{"summary":{"m.joined_member_count":1},"state":{"events":[]},"timeline":{"events":[],"limited":false},"ephemeral":{"events":[]},"account_data":{"events":[]}}` +
				`,"!e:hs":{"summary":{"m.heroes":["@a:hs"]},"state":{"events":[]},"timeline":{"events":[],"limited":false},"ephemeral":{"events":[]},"account_data":{"events":[]}}` +
				`},"invite":{},"knock":{},"leave":{}},` + emptyRest + `}`,
		},
		{
			name: "invited, knocked and left rooms",
			r: Response{Rooms: Rooms{
				Invite: map[string]*InvitedRoom{"!i:hs": {InviteState: EventBatch{Events: []json.RawMessage{json.RawMessage(ev1)}}}, "!h:hs": {}},
				Knock:  map[string]*KnockedRoom{"!k:hs": {KnockState: EventBatch{Events: []json.RawMessage{json.RawMessage(ev2)}}}},
				Leave: map[string]*LeftRoom{
					"!l:hs": {State: EventBatch{Events: []json.RawMessage{json.RawMessage(ev1)}}, Timeline: Timeline{Events: []json.RawMessage{json.RawMessage(ev2)}, PrevBatch: "t5"}, AccountData: EventBatch{Events: []json.RawMessage{json.RawMessage(ev1)}}},
					"!m:hs": {},
				},
			}},
			want: `{"next_batch":"","rooms":{"join":{}` +
				`,"invite":{"!h:hs":{"invite_state":{"events":[]}},"!i:hs":{"invite_state":{"events":[` + ev1 + `]}}}` +
				`,"knock":{"!k:hs":{"knock_state":{"events":[` + ev2 + `]}}}` +
				`,"leave":{"!l:hs":{"state":{"events":[` + ev1 + `]},"timeline":{"events":[` + ev2 + `],"limited":false,"prev_batch":"t5"},"account_data":{"events":[` + ev1 + `]}}` +
				`,"!m:hs":{"state":{"events":[]},"timeline":{"events":[],"limited":false},"account_data":{"events":[]}}}` +
				`},` + emptyRest + `}`,
		},
		{
			name: "nil rooms are null",
			r: Response{Rooms: Rooms{
				Join:   map[string]*JoinedRoom{"!j:hs": nil},
				Invite: map[string]*InvitedRoom{"!i:hs": nil},
				Knock:  map[string]*KnockedRoom{"!k:hs": nil},
				Leave:  map[string]*LeftRoom{"!l:hs": nil},
			}},
			want: `{"next_batch":"","rooms":{"join":{"!j:hs":null},"invite":{"!i:hs":null},"knock":{"!k:hs":null},"leave":{"!l:hs":null}},` + emptyRest + `}`,
		},
		{
			name: "nil event is null",
			r:    Response{Presence: EventBatch{Events: []json.RawMessage{nil, json.RawMessage(ev2)}}},
			want: `{"next_batch":"",` + emptyRooms + `,"presence":{"events":[null,` + ev2 + `]},"account_data":{"events":[]},"to_device":{"events":[]},"device_lists":{}}`,
		},
		{
			name:     "empty event is null",
			r:        Response{ToDevice: EventBatch{Events: []json.RawMessage{{}}}},
			want:     `{"next_batch":"",` + emptyRooms + `,"presence":{"events":[]},"account_data":{"events":[]},"to_device":{"events":[null]},"device_lists":{}}`,
			refFails: true,
		},
		{
			name: "odd strings",
			r: Response{
				NextBatch: "a\"b\\c\x00\x1f\n<>&\u2028\u2029\xff",
				Rooms: Rooms{Join: map[string]*JoinedRoom{"!\"<room>&\t:hs": {
					Summary:  Summary{Heroes: []string{"@\\:hs", "@\xc3(:hs"}},
					Timeline: Timeline{PrevBatch: "\x7fé🎉"},
				}}},
				DeviceLists:            DeviceLists{Changed: []string{"\u2029"}, Left: []string{"\x01"}},
				OneTimeKeysCount:       map[string]int{"\xfe": 1},
				UnusedFallbackKeyTypes: []string{"\b\f\r"},
			},
			want: `{"next_batch":"a\"b\\c\u0000\u001f\n<>&\u2028\u2029\ufffd","rooms":{"join":{"!\"<room>&\t:hs":{` +
				`"summary":{"m.heroes":["@\\:hs","@\ufffd(:hs"]},"state":{"events":[]},"timeline":{"events":[],"limited":false,"prev_batch":"` + "\x7fé🎉" + `"},"ephemeral":{"events":[]},"account_data":{"events":[]}}}` +
				`,"invite":{},"knock":{},"leave":{}},"presence":{"events":[]},"account_data":{"events":[]},"to_device":{"events":[]}` +
				`,"device_lists":{"changed":["\u2029"],"left":["\u0001"]}` +
				`,"device_one_time_keys_count":{"\ufffd":1},"device_unused_fallback_key_types":["\b\f\r"]}`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.r.AppendJSON(nil)
			if string(got) != tc.want {
				t.Fatalf("AppendJSON:\n got %s\nwant %s", got, tc.want)
			}
			// AppendJSON appends: what dst held stays.
			if prefixed := tc.r.AppendJSON([]byte("xyz")); string(prefixed) != "xyz"+tc.want {
				t.Fatalf("AppendJSON(xyz) = %s", prefixed)
			}
			if tc.refFails {
				if !json.Valid(got) {
					t.Fatalf("invalid JSON: %s", got)
				}
				if _, err := json.Marshal(reference(&tc.r)); err == nil {
					t.Fatal("encoding/json did not fail; compare with it")
				}
				return
			}
			checkAgainstReference(t, &tc.r, got)
			// json.Marshal goes through MarshalJSON and so reads the same,
			// with encoding/json's HTML escaping.
			marshaled, err := json.Marshal(&tc.r)
			if err != nil {
				t.Fatal(err)
			}
			checkAgainstReference(t, &tc.r, marshaled)
		})
	}
}

func TestBatchMarshalJSON(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"nil batch", EventBatch{}, `{"events":[]}`},
		{"batch", EventBatch{Events: []json.RawMessage{json.RawMessage(`{"a":"<"}`), nil}}, `{"events":[{"a":"\u003c"},null]}`},
		{"nil timeline", Timeline{}, `{"events":[],"limited":false}`},
		{"timeline", Timeline{Events: []json.RawMessage{json.RawMessage(`1`)}, Limited: true, PrevBatch: "p"}, `{"events":[1],"limited":true,"prev_batch":"p"}`},
		{"in a room", LeftRoom{}, `{"state":{"events":[]},"timeline":{"events":[],"limited":false},"account_data":{"events":[]}}`},
		{"response value (encoding/json's own path)", Response{}, `{"next_batch":"","rooms":{"join":null,"invite":null,"knock":null,"leave":null},"presence":{"events":[]},"account_data":{"events":[]},"to_device":{"events":[]},"device_lists":{}}`},
		{"response pointer", &Response{}, `{"next_batch":"","rooms":{"join":{},"invite":{},"knock":{},"leave":{}},"presence":{"events":[]},"account_data":{"events":[]},"to_device":{"events":[]},"device_lists":{}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("json.Marshal = %s, want %s", got, tc.want)
			}
		})
	}
}

// stringCases are strings with everything appendString must escape.
var stringCases = []struct{ in, want string }{
	{"", `""`},
	{"plain !room:hs.test", `"plain !room:hs.test"`},
	{`"`, `"\""`},
	{`\`, `"\\"`},
	{`a"b\c`, `"a\"b\\c"`},
	{"\x00\x01\x1f", `"\u0000\u0001\u001f"`},
	{"\b\f\n\r\t", `"\b\f\n\r\t"`},
	{"\x7f", "\"\x7f\""},
	{"/", `"/"`},
	{"<>&", `"<>&"`},
	{"\u2028x\u2029", `"\u2028x\u2029"`},
	{"\u2027\u202a", "\"\u2027\u202a\""},
	{"\xff", `"\ufffd"`},
	{"a\xc3", `"a\ufffd"`},
	{"\xc3(", `"\ufffd("`},
	{"\xed\xa0\x80", `"\ufffd\ufffd\ufffd"`},
	{"\xf4\x90\x80\x80", `"\ufffd\ufffd\ufffd\ufffd"`},
	{"\ufffd", "\"\ufffd\""},
	{"é日本🎉", "\"é日本🎉\""},
	{"x\x00\xffé\u2028\"", `"x\u0000\ufffd` + "é" + `\u2028\""`},
}

// encodeString is encoding/json's spelling of s with HTML escaping off.
func encodeString(t testing.TB, s string) string {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

func TestAppendString(t *testing.T) {
	for _, tc := range stringCases {
		got := string(appendString(nil, tc.in))
		if got != tc.want {
			t.Errorf("appendString(%q) = %s, want %s", tc.in, got, tc.want)
		}
		if ref := encodeString(t, tc.in); got != ref {
			t.Errorf("appendString(%q) = %s, encoding/json %s", tc.in, got, ref)
		}
	}
}

// FuzzAppendString checks that appendString spells every string as
// encoding/json does with HTML escaping off.
func FuzzAppendString(f *testing.F) {
	for _, tc := range stringCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendString(nil, s)
		if want := encodeString(t, s); string(got) != want {
			t.Fatalf("appendString(%q) = %s, encoding/json %s", s, got, want)
		}
	})
}

// gen makes random /sync responses for the differential test.
type gen struct{ r *rand.Rand }

// stringPieces are what generated strings are made of.
var stringPieces = []string{
	"", "a", "!room:hs.test", "@alice:hs.test", "s42_1_0", `"`, `\`, "\x00", "\n", "\x1f",
	"<", ">", "&", "\u2028", "\u2029", "\xff", "\xc3", "é", "🎉", "\ufffd", "\x7f", "/",
}

func (g gen) str() string {
	var b strings.Builder
	for range g.r.IntN(5) {
		b.WriteString(stringPieces[g.r.IntN(len(stringPieces))])
	}
	return b.String()
}

// strs returns nil, an empty slice or a few strings.
func (g gen) strs() []string {
	switch g.r.IntN(4) {
	case 0:
		return nil
	case 1:
		return []string{}
	}
	out := make([]string, 1+g.r.IntN(4))
	for i := range out {
		out[i] = g.str()
	}
	return out
}

func (g gen) intp() *int {
	if g.r.IntN(2) == 0 {
		return nil
	}
	return intp(g.r.IntN(2000) - 1000)
}

// value returns a random JSON value for event content.
func (g gen) value(depth int) any {
	n := 6
	if depth > 2 {
		n = 4 // no more nesting
	}
	switch g.r.IntN(n) {
	case 0:
		return g.str()
	case 1:
		return g.r.IntN(1 << 40)
	case 2:
		return g.r.IntN(2) == 0
	case 3:
		return nil
	case 4:
		m := map[string]any{}
		for range g.r.IntN(4) {
			m[g.str()] = g.value(depth + 1)
		}
		return m
	default:
		l := make([]any, g.r.IntN(4))
		for i := range l {
			l[i] = g.value(depth + 1)
		}
		return l
	}
}

// events returns nil, an empty list or a few compact events (and now and
// then a nil one).
func (g gen) events() []json.RawMessage {
	switch g.r.IntN(4) {
	case 0:
		return nil
	case 1:
		return []json.RawMessage{}
	}
	out := make([]json.RawMessage, 1+g.r.IntN(4))
	for i := range out {
		if g.r.IntN(20) == 0 {
			continue // nil: null
		}
		ev := map[string]any{"type": g.str(), "sender": g.str(), "content": g.value(0)}
		raw, err := json.Marshal(ev)
		if err != nil {
			panic(err)
		}
		out[i] = raw
	}
	return out
}

func (g gen) batch() EventBatch { return EventBatch{Events: g.events()} }

func (g gen) timeline() Timeline {
	t := Timeline{Events: g.events(), Limited: g.r.IntN(2) == 0}
	if g.r.IntN(2) == 0 {
		t.PrevBatch = g.str()
	}
	return t
}

// genMap returns nil or a map of up to five entries made by value.
func genMap[V any](g gen, value func() V) map[string]V {
	if g.r.IntN(4) == 0 {
		return nil
	}
	m := map[string]V{}
	for range g.r.IntN(6) {
		m[g.str()] = value()
	}
	return m
}

func (g gen) response() *Response {
	r := &Response{
		NextBatch:   g.str(),
		Presence:    g.batch(),
		AccountData: g.batch(),
		ToDevice:    g.batch(),
		DeviceLists: DeviceLists{Changed: g.strs(), Left: g.strs()},
	}
	r.Rooms.Join = genMap(g, func() *JoinedRoom {
		if g.r.IntN(20) == 0 {
			return nil
		}
		jr := &JoinedRoom{
			Summary:     Summary{Heroes: g.strs(), JoinedMemberCount: g.intp(), InvitedMemberCount: g.intp()},
			State:       g.batch(),
			Timeline:    g.timeline(),
			Ephemeral:   g.batch(),
			AccountData: g.batch(),
		}
		if g.r.IntN(2) == 0 {
			jr.UnreadNotifications = &UnreadCounts{HighlightCount: g.r.IntN(10), NotificationCount: g.r.IntN(100)}
		}
		return jr
	})
	r.Rooms.Invite = genMap(g, func() *InvitedRoom {
		if g.r.IntN(20) == 0 {
			return nil
		}
		return &InvitedRoom{InviteState: g.batch()}
	})
	r.Rooms.Knock = genMap(g, func() *KnockedRoom {
		if g.r.IntN(20) == 0 {
			return nil
		}
		return &KnockedRoom{KnockState: g.batch()}
	})
	r.Rooms.Leave = genMap(g, func() *LeftRoom {
		if g.r.IntN(20) == 0 {
			return nil
		}
		return &LeftRoom{State: g.batch(), Timeline: g.timeline(), AccountData: g.batch()}
	})
	r.OneTimeKeysCount = genMap(g, func() int { return g.r.IntN(200) - 100 })
	r.UnusedFallbackKeyTypes = g.strs()
	return r
}

// TestAppendJSONRandom compares AppendJSON with encoding/json on many
// generated responses: the same JSON value, and after HTML escaping even
// the same bytes.
func TestAppendJSONRandom(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(1, 2))}
	n := 2000
	if testing.Short() {
		n = 200
	}
	for i := range n {
		r := g.response()
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			checkAgainstReference(t, r, r.AppendJSON(nil))
		})
	}
}

// benchEvent returns an m.room.message event of about 700 bytes in its
// client form, as a /sync timeline carries it.
func benchEvent(room, i int) json.RawMessage {
	body := fmt.Sprintf("Message %d in room %d: the deploy finished, but the staging cluster still reports "+
		"stale caches for a few tenants & we should look at the <cache> layer before Friday.", i, room)
	ev := map[string]any{
		"type":             "m.room.message",
		"sender":           "@alice.example:example.org",
		"event_id":         fmt.Sprintf("$Nq2kPZ0-%04d%04dyR3vXwHcT8aUeGmJsLdQ1fBiKoE", room, i),
		"origin_server_ts": 1_700_000_000_000 + int64(room*1000+i),
		"content": map[string]any{
			"msgtype":        "m.text",
			"body":           body,
			"format":         "org.matrix.custom.html",
			"formatted_body": "<p>" + strings.ReplaceAll(body, "<cache>", "<code>cache</code>") + "</p>",
			"m.mentions":     map[string]any{"user_ids": []string{"@bob:example.org"}},
		},
		"unsigned": map[string]any{"age": 1234 + i, "transaction_id": fmt.Sprintf("m1700000000000.%d", i)},
	}
	raw, err := json.Marshal(ev)
	if err != nil {
		panic(err)
	}
	return raw
}

// benchResponse is a /sync of 8 joined rooms with 10 messages each,
// receipts, typing, summaries and unread counts.
func benchResponse() *Response {
	r := &Response{
		NextBatch:              "s1234567_890_12_345_6_7_8",
		Rooms:                  newRooms(),
		DeviceLists:            DeviceLists{Changed: []string{"@bob:example.org"}},
		OneTimeKeysCount:       map[string]int{"signed_curve25519": 50},
		UnusedFallbackKeyTypes: []string{"signed_curve25519"},
	}
	for room := range 8 {
		jr := &JoinedRoom{
			Summary:             Summary{Heroes: []string{"@bob:example.org", "@carol:example.org"}, JoinedMemberCount: intp(3), InvitedMemberCount: intp(0)},
			Timeline:            Timeline{Limited: true, PrevBatch: fmt.Sprintf("t%d-1234567_890", room)},
			UnreadNotifications: &UnreadCounts{HighlightCount: room % 2, NotificationCount: room + 3},
		}
		for i := range 10 {
			jr.Timeline.Events = append(jr.Timeline.Events, benchEvent(room, i))
		}
		jr.Ephemeral.Events = []json.RawMessage{
			json.RawMessage(`{"type":"m.typing","content":{"user_ids":["@bob:example.org"]}}`),
			json.RawMessage(fmt.Sprintf(`{"type":"m.receipt","content":{"$Nq2kPZ0-%04d0009yR3vXwHcT8aUeGmJsLdQ1fBiKoE":{"m.read":{"@bob:example.org":{"ts":1700000000123}}}}}`, room)),
		}
		r.Rooms.Join[fmt.Sprintf("!Vx%02dHqLmTzKpRa:example.org", room)] = jr
	}
	return r
}

func TestBenchResponse(t *testing.T) {
	r := benchResponse()
	if n := len(benchEvent(0, 0)); n < 600 || n > 800 {
		t.Errorf("bench event is %d bytes, want about 700", n)
	}
	out := r.AppendJSON(nil)
	checkAgainstReference(t, r, out)
	// The hint covers the whole answer, so that AppendJSON allocates once,
	// without asking for much more than it needs.
	if hint := r.sizeHint(); hint < len(out) || hint > len(out)+len(out)/8 {
		t.Errorf("sizeHint = %d for %d bytes", hint, len(out))
	}
}

// BenchmarkResponseJSON compares encoding a /sync of 8 rooms with
// encoding/json (the old path, through the ref types) and AppendJSON, into
// a new buffer and into a reused one.
func BenchmarkResponseJSON(b *testing.B) {
	r := benchResponse()
	ref := reference(r)
	size := int64(len(r.AppendJSON(nil)))
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(size)
		for b.Loop() {
			if _, err := json.Marshal(ref); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AppendJSON", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(size)
		for b.Loop() {
			r.AppendJSON(nil)
		}
	})
	b.Run("AppendJSON-reused", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(size)
		var buf []byte
		for b.Loop() {
			buf = r.AppendJSON(buf[:0])
		}
	})
}
