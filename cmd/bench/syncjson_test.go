package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// refSyncResponse is the part of a /sync answer the reader used to decode
// with encoding/json; parseSync must find the same.
type refSyncResponse struct {
	NextBatch string `json:"next_batch"`
	Rooms     struct {
		Join map[string]struct {
			Timeline struct {
				Events []struct {
					Content struct {
						BenchID string `json:"bench_id"`
					} `json:"content"`
				} `json:"events"`
			} `json:"timeline"`
		} `json:"join"`
	} `json:"rooms"`
}

// refParseSync decodes body with encoding/json, returning next_batch and
// the sorted bench_ids.
func refParseSync(body []byte) (string, []string, error) {
	var r refSyncResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return "", nil, err
	}
	var ids []string
	for _, room := range r.Rooms.Join {
		for _, ev := range room.Timeline.Events {
			if ev.Content.BenchID != "" {
				ids = append(ids, ev.Content.BenchID)
			}
		}
	}
	slices.Sort(ids)
	return r.NextBatch, ids, nil
}

// testParseSync runs parseSync, returning the bench_ids sorted.
func testParseSync(body []byte) (string, []string, error) {
	var ids []string
	next, err := parseSync(body, func(id []byte) {
		if len(id) > 0 {
			ids = append(ids, string(id))
		}
	})
	slices.Sort(ids)
	return next, ids, err
}

// syncEvent is a timeline event as hearth writes it in a /sync answer.
func syncEvent(room, id string) string {
	return fmt.Sprintf(`{"content":{"bench_id":%q,"body":"benchmark message %s","msgtype":"m.text"},`+
		`"event_id":"$k3p96YhQW-TuUVVEsTuKuD96WVOXXdTVlgbAUt%s","origin_server_ts":1795782488627,`+
		`"sender":"@bench1a2b3c_sender03:bench.test","type":"m.room.message",`+
		`"unsigned":{"age":137,"transaction_id":"b1795782488627000000-%s"}}`, id, id, id, id)
}

// syncAnswer is a /sync answer of rooms joined rooms with perRoom
// benchmark messages each, shaped as hearth's.
func syncAnswer(rooms, perRoom int) string {
	var b strings.Builder
	b.WriteString(`{"next_batch":"s20311_0_0_0_0_0_3","rooms":{"join":{`)
	for r := range rooms {
		if r > 0 {
			b.WriteString(",")
		}
		room := fmt.Sprintf("!room%dd4x96W3K93igViXrCv8N:bench.test", r)
		fmt.Fprintf(&b, `%q:{"summary":{},"state":{"events":[]},"timeline":{"events":[`, room)
		for i := range perRoom {
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString(syncEvent(room, fmt.Sprintf("load8true-%d-%d", r, i)))
		}
		b.WriteString(`],"limited":false,"prev_batch":"t20308"},"ephemeral":{"events":[]},"account_data":{"events":[]},` +
			`"unread_notifications":{"highlight_count":0,"notification_count":0}}`)
	}
	b.WriteString(`},"invite":{},"knock":{},"leave":{}},"presence":{"events":[]},"account_data":{"events":[]},` +
		`"to_device":{"events":[]},"device_lists":{},"device_one_time_keys_count":{"signed_curve25519":0},` +
		`"device_unused_fallback_key_types":[]}`)
	return b.String()
}

func TestParseSync(t *testing.T) {
	tests := []struct {
		name string
		body string
		next string
		ids  []string
	}{
		{"hearth's answer", syncAnswer(3, 2), "s20311_0_0_0_0_0_3",
			[]string{"load8true-0-0", "load8true-0-1", "load8true-1-0", "load8true-1-1", "load8true-2-0", "load8true-2-1"}},
		{"empty", `{}`, "", nil},
		{"whitespace and other orders", " {\n\t\"rooms\" : { \"join\" : { \"!a:x\" : { \"timeline\" : { \"events\" : [ " +
			"{ \"type\" : \"m.room.message\" , \"content\" : { \"n\" : -1.5e+3 , \"bench_id\" : \"a-1\" } } ] } } } } ,\r\n" +
			"\"next_batch\" : \"s1\" } ", "s1", []string{"a-1"}},
		{"escapes", `{"next_batch":"s\u00312\/3","rooms":{"join":{"!a\"b:x":{"timeline":{"events":[` +
			`{"content":{"bench_id":"x\"y\\z\u00e9"}}]}}}}}`, "s12/3", []string{"x\"y\\z\u00e9"}},
		{"escaped keys", `{"next\u005fbatch":"s1","rooms":{"join":{"!a:x":{"timeline":{"events":[` +
			`{"content":{"bench\u005fid":"a"}}]}}}}}`, "s1", []string{"a"}},
		{"bench_id elsewhere is ignored", `{"bench_id":"top","rooms":{"leave":{"!a:x":{"timeline":{"events":[` +
			`{"content":{"bench_id":"left"}}]}}},"join":{"!b:x":{"state":{"events":[{"content":{"bench_id":"state"}}]},` +
			`"timeline":{"events":[{"content":{"body":"bench_id","x":{"bench_id":"nested"}},"bench_id":"outside"},` +
			`{"content":{"bench_id":"yes"}}]}}}}}`, "", []string{"yes"}},
		{"nulls and literals", `{"next_batch":null,"rooms":{"join":{"!a:x":{"timeline":{"events":[null,` +
			`{"content":null},{"content":{"bench_id":null,"t":true,"f":false}},{"content":{"bench_id":"b"}}]},` +
			`"limited":true}}}}`, "", []string{"b"}},
		{"deep values skipped", `{"account_data":[[[[{"a":[1,2,{"b":"}]"}]}]]]],"next_batch":"s"}`, "s", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, ids, err := testParseSync([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if next != tt.next || !slices.Equal(ids, tt.ids) {
				t.Errorf("got %q %q, want %q %q", next, ids, tt.next, tt.ids)
			}
			refNext, refIDs, err := refParseSync([]byte(tt.body))
			if err != nil {
				return // encoding/json is stricter about types
			}
			if next != refNext || !slices.Equal(ids, refIDs) {
				t.Errorf("encoding/json finds %q %q, parseSync %q %q", refNext, refIDs, next, ids)
			}
		})
	}
}

func TestParseSyncErrors(t *testing.T) {
	valid := syncAnswer(2, 2)
	tests := []struct{ name, body string }{
		{"empty", ``},
		{"not an object", `["next_batch"]`},
		{"truncated", valid[:len(valid)/2]},
		{"truncated string", `{"next_batch":"s1`},
		{"trailing data", `{"next_batch":"s1"} {}`},
		{"trailing comma", `{"next_batch":"s1",}`},
		{"missing colon", `{"next_batch" "s1"}`},
		{"missing comma", `{"a":1 "b":2}`},
		{"array missing comma", `{"a":[1 2]}`},
		{"bad literal", `{"a":nul}`},
		{"bad value", `{"a":+}`},
		{"lone minus", `{"a":-}`},
		{"control character in string", "{\"a\":\"x\ny\"}"},
		{"bad escape", `{"rooms":{"join":{"!a:x":{"timeline":{"events":[{"content":{"bench_id":"\q"}}]}}}}}`},
		{"too deep", `{"a":` + strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1) + `}`},
		{"unclosed", `{"a":[{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if next, ids, err := testParseSync([]byte(tt.body)); err == nil {
				t.Errorf("no error; got %q %q", next, ids)
			}
		})
	}
}

// FuzzParseSync checks that parseSync neither panics nor disagrees with
// encoding/json on what encoding/json accepts.
func FuzzParseSync(f *testing.F) {
	f.Add(syncAnswer(2, 2))
	f.Add(`{"rooms":{"join":{"!a:x":{"timeline":{"events":[{"content":{"bench_id":"a\u0041"}}]}}}}}`)
	f.Add(`{"next_batch":"x","a":[1,-2.5e3,true,false,null,{"b":"c"}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		next, ids, err := testParseSync([]byte(body))
		refNext, refIDs, refErr := refParseSync([]byte(body))
		if refErr != nil {
			return
		}
		if err != nil {
			t.Fatalf("parseSync: %v; encoding/json accepts it", err)
		}
		if next != refNext || !slices.Equal(ids, refIDs) {
			t.Fatalf("encoding/json finds %q %q, parseSync %q %q", refNext, refIDs, next, ids)
		}
	})
}

// The reader's answers under 8 senders spread over 8 rooms: a few
// messages in each room.
var benchSyncBody = []byte(syncAnswer(8, 3))

func BenchmarkParseSync(b *testing.B) {
	b.SetBytes(int64(len(benchSyncBody)))
	b.ReportAllocs()
	var ids [][]byte
	for b.Loop() {
		ids = ids[:0]
		if _, err := parseSync(benchSyncBody, func(id []byte) { ids = append(ids, id) }); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseSyncEncodingJSON is the decoding the reader did before
// parseSync, for comparison.
func BenchmarkParseSyncEncodingJSON(b *testing.B) {
	b.SetBytes(int64(len(benchSyncBody)))
	b.ReportAllocs()
	for b.Loop() {
		var r refSyncResponse
		if err := json.Unmarshal(benchSyncBody, &r); err != nil {
			b.Fatal(err)
		}
	}
}
