package pushrules

import (
	"encoding/json"
	"testing"
)

// benchContents are the contents of realistic m.room.message events: a
// plain sentence, a rich reply with mentions, a message in a thread and
// an edit.
var benchContents = []struct {
	name    string
	content string
}{
	{"plain", `{"body":"Has anyone looked at the flaky federation test since the last deploy? It failed twice this morning.","msgtype":"m.text"}`},
	{"reply", `{"body":"> <@u3:a.test> Has anyone looked at the flaky federation test?\n\nYes, I think it is the backoff timer again.","format":"org.matrix.custom.html","formatted_body":"<mx-reply><blockquote><a href=\"https://matrix.to/#/!r:a.test/$e1\">In reply to</a> <a href=\"https://matrix.to/#/@u3:a.test\">@u3:a.test</a><br>Has anyone looked at the flaky federation test?</blockquote></mx-reply>Yes, I think it is the backoff timer again.","m.mentions":{"user_ids":["@u3:a.test"]},"m.relates_to":{"m.in_reply_to":{"event_id":"$Vx3kq0bF2aQ9sPz7r1cYtW4nHmLjE6uDgKoIiA5B8"}},"msgtype":"m.text"}`},
	{"thread", `{"body":"I will take a look after lunch, it might be the retry loop.","m.relates_to":{"event_id":"$Vx3kq0bF2aQ9sPz7r1cYtW4nHmLjE6uDgKoIiA5B8","is_falling_back":true,"m.in_reply_to":{"event_id":"$Qw8eRt5yUi2oPa7sDf4gHj1kLz9xCv6bNm3QwErTy"},"rel_type":"m.thread"},"msgtype":"m.text"}`},
	{"edit", `{"body":" * Has anyone looked at the flaky federation test since Tuesday?","m.new_content":{"body":"Has anyone looked at the flaky federation test since Tuesday?","msgtype":"m.text"},"m.relates_to":{"event_id":"$Vx3kq0bF2aQ9sPz7r1cYtW4nHmLjE6uDgKoIiA5B8","rel_type":"m.replace"},"msgtype":"m.text"}`},
}

// BenchmarkViewAndEvaluate builds the view of a message from its fields
// and evaluates the default ruleset of a member against it, as
// core/notifications does for every new event and syncing member: with
// Evaluate, and with a ruleset compiled beforehand.
func BenchmarkViewAndEvaluate(b *testing.B) {
	const user = "@u20:a.test"
	rs := Defaults(user, "u20")
	compiled := Compile(rs)
	ctx := Context{UserID: user, DisplayName: "Uma Twenty", MemberCount: 33, NotificationPowerLevels: map[string]int64{"room": 50}}
	for _, bc := range benchContents {
		f := Fields{ID: "$Zp4LmW2sQ8vRt6yUx0cBn3aKj9hGf5dEi7oPq1rSt", Type: "m.room.message", Sender: "@u3:a.test",
			RoomID: "!AbCdEfGhIjKlMnOp:a.test", TS: 1700000000123, Content: json.RawMessage(bc.content)}
		for _, how := range []string{"rules", "compiled"} {
			b.Run(bc.name+"/"+how, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					ev, err := NewEventViewOf(f)
					if err != nil {
						b.Fatal(err)
					}
					var actions []Action
					if how == "rules" {
						actions, _ = Evaluate(rs, ev, ctx)
					} else {
						actions, _ = compiled.Evaluate(ev, ctx)
					}
					if !Notifies(actions) && bc.name != "edit" {
						b.Fatal("no notification")
					}
				}
			})
		}
	}
}
