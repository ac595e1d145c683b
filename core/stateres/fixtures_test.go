package stateres

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"hearth/core/event"
	"hearth/core/internal/vectors"
	"hearth/core/roomversion"
)

// rumaFixtures is statres_ruma_fixtures.json.
type rumaFixtures struct {
	Cases []rumaCase `json:"cases"`
}

type rumaCase struct {
	Name        string              `json:"name"`
	Mode        string              `json:"mode"`
	RoomVersion string              `json:"room_version"`
	Batches     [][]json.RawMessage `json:"batches"`
	StateMaps   [][]string          `json:"state_maps"`
	PDUs        []json.RawMessage   `json:"pdus"`
	Expected    []struct {
		Type     string `json:"type"`
		StateKey string `json:"state_key"`
		EventID  string `json:"event_id"`
	} `json:"expected_resolved_state"`
}

// memEvents is an Events source held in a map.
type memEvents map[string]*event.PDU

func (m memEvents) Event(id string) (*event.PDU, error) {
	if p, ok := m[id]; ok {
		return p, nil
	}
	return nil, fmt.Errorf("no event %s", id)
}

// loadPDU loads a fixture PDU under the event_id it carries.
func loadPDU(t testing.TB, raw json.RawMessage, v *roomversion.Version) *event.PDU {
	t.Helper()
	var head struct {
		EventID string `json:"event_id"`
	}
	if err := json.Unmarshal(raw, &head); err != nil || head.EventID == "" {
		t.Fatalf("fixture PDU without event_id: %s", raw)
	}
	p, err := event.Load(head.EventID, raw, v)
	if err != nil {
		t.Fatalf("load %s: %v", head.EventID, err)
	}
	return p
}

// formatState renders a state map sorted by key, for failure messages.
func formatState(s map[event.StateKey]string) string {
	keys := slices.SortedFunc(maps.Keys(s), func(a, b event.StateKey) int {
		if c := strings.Compare(a.Type, b.Type); c != 0 {
			return c
		}
		return strings.Compare(a.StateKey, b.StateKey)
	})
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "\n  %s -> %s", k, s[k])
	}
	return b.String()
}

func TestRumaFixtures(t *testing.T) {
	var f rumaFixtures
	vectors.Load(t, "statres_ruma_fixtures.json", &f)
	if len(f.Cases) == 0 {
		t.Fatal("no cases in statres_ruma_fixtures.json")
	}
	for _, c := range f.Cases {
		t.Run(c.Name, func(t *testing.T) {
			v, ok := roomversion.Lookup(c.RoomVersion)
			if !ok {
				t.Fatalf("unknown room version %q", c.RoomVersion)
			}
			want := make(map[event.StateKey]string, len(c.Expected))
			for _, e := range c.Expected {
				want[event.StateKey{Type: e.Type, StateKey: e.StateKey}] = e.EventID
			}
			var got map[event.StateKey]string
			switch c.Mode {
			case "state_maps":
				got = resolveStateMaps(t, v, c)
			case "batches":
				got = resolveBatches(t, v, c)
				// Every PDU in a state map of its own resolves to the
				// same state.
				all := resolveSingletons(t, v, c)
				if !maps.Equal(all, want) {
					t.Errorf("singleton state maps resolved to%s\nwant%s", formatState(all), formatState(want))
				}
			default:
				t.Fatalf("unknown mode %q", c.Mode)
			}
			if !maps.Equal(got, want) {
				t.Errorf("resolved state%s\nwant%s", formatState(got), formatState(want))
			}
		})
	}
}

// resolveStateMaps resolves the case's state maps over its PDUs.
func resolveStateMaps(t *testing.T, v *roomversion.Version, c rumaCase) map[event.StateKey]string {
	evs := memEvents{}
	for _, raw := range c.PDUs {
		p := loadPDU(t, raw, v)
		evs[p.ID()] = p
	}
	var sets []map[event.StateKey]string
	for _, ids := range c.StateMaps {
		s := map[event.StateKey]string{}
		for _, id := range ids {
			p, ok := evs[id]
			if !ok {
				t.Fatalf("state map names unknown event %s", id)
			}
			s[p.StateTuple()] = id
		}
		sets = append(sets, s)
	}
	got, err := Resolve(v, sets, evs)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// batchEvents loads every PDU of the case's batches and returns them in a
// topological order of prev_events.
func batchEvents(t *testing.T, v *roomversion.Version, c rumaCase) (memEvents, []*event.PDU) {
	evs := memEvents{}
	var all []*event.PDU
	for _, batch := range c.Batches {
		for _, raw := range batch {
			p := loadPDU(t, raw, v)
			evs[p.ID()] = p
			all = append(all, p)
		}
	}
	placed := map[string]bool{}
	var order []*event.PDU
	for len(order) < len(all) {
		progress := false
		for _, p := range all {
			if placed[p.ID()] {
				continue
			}
			ready := true
			for _, prev := range p.PrevEvents() {
				if _, ok := evs[prev]; !ok {
					t.Fatalf("%s: unknown prev event %s", p.ID(), prev)
				}
				if !placed[prev] {
					ready = false
				}
			}
			if ready {
				placed[p.ID()] = true
				order = append(order, p)
				progress = true
			}
		}
		if !progress {
			t.Fatal("prev_events cycle")
		}
	}
	return evs, order
}

// resolveBatches walks the prev_events DAG as ruma's harness does: the state
// before an event resolves the states after its prev events, the state
// after it resolves the state before it against that state with the event
// applied, and the result resolves the states after the forward
// extremities.
func resolveBatches(t *testing.T, v *roomversion.Version, c rumaCase) map[event.StateKey]string {
	evs, order := batchEvents(t, v, c)
	after := map[string]map[event.StateKey]string{}
	referenced := map[string]bool{}
	for _, p := range order {
		var prevStates []map[event.StateKey]string
		for _, prev := range p.PrevEvents() {
			prevStates = append(prevStates, after[prev])
			referenced[prev] = true
		}
		before, err := Resolve(v, prevStates, evs)
		if err != nil {
			t.Fatalf("state before %s: %v", p.ID(), err)
		}
		with := copyState(before)
		with[p.StateTuple()] = p.ID()
		a, err := Resolve(v, []map[event.StateKey]string{before, with}, evs)
		if err != nil {
			t.Fatalf("state after %s: %v", p.ID(), err)
		}
		after[p.ID()] = a
	}
	var leaves []map[event.StateKey]string
	for _, p := range order {
		if !referenced[p.ID()] {
			leaves = append(leaves, after[p.ID()])
		}
	}
	got, err := Resolve(v, leaves, evs)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// resolveSingletons resolves every PDU of the case in a state map of its
// own, all at once.
func resolveSingletons(t *testing.T, v *roomversion.Version, c rumaCase) map[event.StateKey]string {
	evs, order := batchEvents(t, v, c)
	var sets []map[event.StateKey]string
	for _, p := range order {
		sets = append(sets, map[event.StateKey]string{p.StateTuple(): p.ID()})
	}
	got, err := Resolve(v, sets, evs)
	if err != nil {
		t.Fatal(err)
	}
	return got
}
