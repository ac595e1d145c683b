package keys

import (
	"testing"
)

func TestSendToDevice(t *testing.T) {
	s := newServer(t)
	td := s.e2ee.ToDevice()
	body := `{"messages": {"@alice:hs": {"A1": {"body": "hi"}}}}`
	s.ok("PUT", "/sendToDevice/m.test/t1", "b1", body)
	s.ok("PUT", "/sendToDevice/m.test/t1", "b1", body) // a retry
	if p := td.Position(); p != 1 {
		t.Errorf("position after a send and its retry = %d, want 1", p)
	}
	// The same transaction ID from another device is another request.
	s.ok("PUT", "/sendToDevice/m.test/t1", "a2", body)
	msgs, _, err := td.Messages(t.Context(), alice, "A1", 0, td.Position(), 0)
	if err != nil || len(msgs) != 2 {
		t.Errorf("inbox: %s, %v; want 2 messages", msgs, err)
	}
	// Transaction IDs with slashes arrive escaped.
	s.ok("PUT", "/sendToDevice/m.test/a%2Fb", "b1", body)

	s.expectErrors([]errorCase{
		{"no token", "PUT", "/sendToDevice/m.test/t2", "", body, 401, "M_MISSING_TOKEN"},
		{"not JSON", "PUT", "/sendToDevice/m.test/t2", "b1", `{"messages":`, 400, "M_NOT_JSON"},
		{"no messages", "PUT", "/sendToDevice/m.test/t2", "b1", `{}`, 400, "M_MISSING_PARAM"},
		{"wrong shape", "PUT", "/sendToDevice/m.test/t2", "b1", `{"messages": {"@alice:hs": ["A1"]}}`, 400, "M_BAD_JSON"},
		{"content not an object", "PUT", "/sendToDevice/m.test/t2", "b1", `{"messages": {"@alice:hs": {"A1": 1}}}`, 400, "M_BAD_JSON"},
		{"bad user ID", "PUT", "/sendToDevice/m.test/t2", "b1", `{"messages": {"alice": {"A1": {}}}}`, 400, "M_INVALID_PARAM"},
	})
}
