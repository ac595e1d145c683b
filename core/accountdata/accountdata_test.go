package accountdata

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"hearth/persist/memory"
)

const alice, bob = "@alice:a.test", "@bob:a.test"

func newStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestGetSet(t *testing.T) {
	ctx := context.Background()
	var woken []string
	s := newStore(t, Config{Store: memory.New(), Wake: func(u ...string) { woken = append(woken, u...) }})
	if _, err := s.Get(ctx, alice, "", "m.direct"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get before Set: %v", err)
	}
	p1, err := s.Set(ctx, alice, "", "m.direct", json.RawMessage(` {"@bob:a.test":["!r:a.test"]} `))
	if err != nil || p1 != 1 {
		t.Fatalf("Set = %d, %v", p1, err)
	}
	p2, err := s.Set(ctx, alice, "!r:a.test", "m.tag", json.RawMessage(`{"tags":{}}`))
	if err != nil || p2 != 2 {
		t.Fatalf("Set room = %d, %v", p2, err)
	}
	got, err := s.Get(ctx, alice, "", "m.direct")
	if err != nil || string(got) != `{"@bob:a.test":["!r:a.test"]}` {
		t.Fatalf("Get = %s, %v", got, err)
	}
	if _, err := s.Get(ctx, alice, "", "m.tag"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("room data leaked into global: %v", err)
	}
	if _, err := s.Get(ctx, bob, "", "m.direct"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("alice's data visible to bob: %v", err)
	}
	if got, _ := s.Get(ctx, alice, "!r:a.test", "m.tag"); string(got) != `{"tags":{}}` {
		t.Fatalf("room Get = %s", got)
	}
	if s.Position() != 2 {
		t.Fatalf("Position = %d", s.Position())
	}
	if !reflect.DeepEqual(woken, []string{alice, alice}) {
		t.Fatalf("woken %v", woken)
	}
}

func TestInvalid(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{Store: memory.New()})
	for _, tc := range []struct {
		name, room, typ, content string
	}{
		{"empty type", "", "", `{}`},
		{"long type", "", strings.Repeat("x", MaxTypeLength+1), `{}`},
		{"nul type", "", "a\x00b", `{}`},
		{"nul room", "!a\x00b", "t", `{}`},
		{"array", "", "t", `[1]`},
		{"not json", "", "t", `{`},
		{"empty", "", "t", ``},
	} {
		if _, err := s.Set(ctx, alice, tc.room, tc.typ, json.RawMessage(tc.content)); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Set err %v, want ErrInvalid", tc.name, err)
		}
	}
	if s.Position() != 0 {
		t.Fatalf("invalid writes moved the stream to %d", s.Position())
	}
	g, r, err := s.Changes(ctx, alice, 0, s.Position())
	if err != nil || g != nil || r != nil {
		t.Fatalf("invalid writes stored something: %v %v %v", g, r, err)
	}
}

func TestChanges(t *testing.T) {
	ctx := context.Background()
	s := newStore(t, Config{Store: memory.New()})
	set := func(user, room, typ, content string) uint64 {
		t.Helper()
		p, err := s.Set(ctx, user, room, typ, json.RawMessage(content))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	set(alice, "", "a", `{"v":1}`)     // 1
	set(alice, "!r:x", "t", `{"v":2}`) // 2
	set(bob, "", "a", `{"bob":true}`)  // 3
	set(alice, "", "b", `{"v":4}`)     // 4
	set(alice, "", "a", `{"v":5}`)     // 5: replaces 1
	set(alice, "!s:x", "t", `{"v":6}`) // 6
	type res struct {
		global map[string]string
		rooms  map[string]map[string]string
	}
	str := func(g map[string]json.RawMessage, r map[string]map[string]json.RawMessage) res {
		out := res{}
		for k, v := range g {
			if out.global == nil {
				out.global = map[string]string{}
			}
			out.global[k] = string(v)
		}
		for room, m := range r {
			if out.rooms == nil {
				out.rooms = map[string]map[string]string{}
			}
			out.rooms[room] = map[string]string{}
			for k, v := range m {
				out.rooms[room][k] = string(v)
			}
		}
		return out
	}
	for _, tc := range []struct {
		user     string
		from, to uint64
		want     res
	}{
		{alice, 0, 6, res{map[string]string{"a": `{"v":5}`, "b": `{"v":4}`}, map[string]map[string]string{"!r:x": {"t": `{"v":2}`}, "!s:x": {"t": `{"v":6}`}}}},
		{alice, 0, 1, res{}}, // the write at 1 was replaced at 5
		{alice, 1, 4, res{map[string]string{"b": `{"v":4}`}, map[string]map[string]string{"!r:x": {"t": `{"v":2}`}}}},
		{alice, 4, 5, res{global: map[string]string{"a": `{"v":5}`}}},
		{alice, 6, 6, res{}},
		{alice, 6, 3, res{}},
		{bob, 0, 6, res{global: map[string]string{"a": `{"bob":true}`}}},
		{bob, 3, 6, res{}},
	} {
		g, r, err := s.Changes(ctx, tc.user, tc.from, tc.to)
		if err != nil {
			t.Fatal(err)
		}
		if got := str(g, r); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Changes(%s, %d, %d) = %+v, want %+v", tc.user, tc.from, tc.to, got, tc.want)
		}
	}
}

func TestDefaults(t *testing.T) {
	ctx := context.Background()
	defaults := func(userID string) map[string]json.RawMessage {
		return map[string]json.RawMessage{"m.push_rules": json.RawMessage(`{"for":"` + userID + `"}`)}
	}
	s := newStore(t, Config{Store: memory.New(), Defaults: defaults})
	got, err := s.Get(ctx, alice, "", "m.push_rules")
	if err != nil || string(got) != `{"for":"@alice:a.test"}` {
		t.Fatalf("default Get = %s, %v", got, err)
	}
	if _, err := s.Get(ctx, alice, "!r:x", "m.push_rules"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("defaults apply to rooms: %v", err)
	}
	g, _, _ := s.Changes(ctx, alice, 0, 0)
	if string(g["m.push_rules"]) != `{"for":"@alice:a.test"}` {
		t.Fatalf("initial Changes without the default: %v", g)
	}
	var seen json.RawMessage
	var existed bool
	p, err := s.Update(ctx, alice, "", "m.push_rules", func(cur json.RawMessage, exists bool) (json.RawMessage, error) {
		seen, existed = cur, exists
		return json.RawMessage(`{"mine":1}`), nil
	})
	if err != nil || p != 1 || existed || string(seen) != `{"for":"@alice:a.test"}` {
		t.Fatalf("Update over default: pos %d err %v existed %v saw %s", p, err, existed, seen)
	}
	g, _, _ = s.Changes(ctx, alice, 0, 1)
	if string(g["m.push_rules"]) != `{"mine":1}` {
		t.Fatalf("stored value does not replace the default: %v", g)
	}
	g, _, _ = s.Changes(ctx, alice, 1, 1)
	if g != nil {
		t.Fatalf("incremental Changes repeat the defaults: %v", g)
	}
}

// TestDefaultTypes checks that with Config.DefaultTypes, a read of another
// missing type does not build the defaults, while the listed ones still
// come from them.
func TestDefaultTypes(t *testing.T) {
	ctx := context.Background()
	var built atomic.Int64
	defaults := func(userID string) map[string]json.RawMessage {
		built.Add(1)
		return map[string]json.RawMessage{"m.push_rules": json.RawMessage(`{}`)}
	}
	s := newStore(t, Config{Store: memory.New(), Defaults: defaults, DefaultTypes: []string{"m.push_rules"}})
	if _, err := s.Get(ctx, alice, "", "m.ignored_user_list"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing type: %v", err)
	}
	if n := built.Load(); n != 0 {
		t.Fatalf("a missing type outside DefaultTypes built the defaults %d times", n)
	}
	if got, err := s.Get(ctx, alice, "", "m.push_rules"); err != nil || string(got) != `{}` {
		t.Fatalf("default Get = %s, %v", got, err)
	}
}

func TestUpdate(t *testing.T) {
	ctx := context.Background()
	var wakes atomic.Int64
	s := newStore(t, Config{Store: memory.New(), Wake: func(...string) { wakes.Add(1) }})
	p, err := s.Update(ctx, alice, "", "t", func(json.RawMessage, bool) (json.RawMessage, error) { return nil, nil })
	if err != nil || p != 0 || wakes.Load() != 0 {
		t.Fatalf("no-op Update: %d %v wakes %d", p, err, wakes.Load())
	}
	boom := errors.New("boom")
	if _, err := s.Update(ctx, alice, "", "t", func(json.RawMessage, bool) (json.RawMessage, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("fn error lost: %v", err)
	}
	if _, err := s.Get(ctx, alice, "", "t"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("failed Update wrote: %v", err)
	}
	// Concurrent read-modify-writes of one counter lose nothing.
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := s.Update(ctx, alice, "", "n", func(cur json.RawMessage, _ bool) (json.RawMessage, error) {
				var v struct{ N int }
				if cur != nil {
					if err := json.Unmarshal(cur, &v); err != nil {
						return nil, err
					}
				}
				v.N++
				return json.Marshal(v)
			})
			if err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	got, _ := s.Get(ctx, alice, "", "n")
	if string(got) != `{"N":20}` {
		t.Fatalf("counter = %s", got)
	}
	g, _, _ := s.Changes(ctx, alice, 0, s.Position())
	if len(g) != 1 {
		t.Fatalf("log keeps replaced writes: %v", g)
	}
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	store := memory.New()
	s := newStore(t, Config{Store: store})
	for range 3 {
		if _, err := s.Set(ctx, alice, "", "t", json.RawMessage(`{}`)); err != nil {
			t.Fatal(err)
		}
	}
	// A no-op update hands out a position too, which a client's token
	// may carry: it is not reused after a restart.
	if _, err := s.Update(ctx, alice, "", "t", func(json.RawMessage, bool) (json.RawMessage, error) { return nil, nil }); err != nil {
		t.Fatal(err)
	}
	// So does an update that fn refuses.
	if _, err := s.Update(ctx, alice, "", "t", func(json.RawMessage, bool) (json.RawMessage, error) { return nil, errors.New("no") }); err == nil {
		t.Fatal("refused update succeeded")
	}
	s2 := newStore(t, Config{Store: store})
	if s2.Position() != 5 {
		t.Fatalf("reopened at %d, want 5", s2.Position())
	}
	if p, _ := s2.Set(ctx, bob, "", "t", json.RawMessage(`{}`)); p != 6 {
		t.Fatalf("next position %d, want 6", p)
	}
}
