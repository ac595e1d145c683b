package ephemeral

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"hearth/core/room"
)

// maxCachedMemberLists bounds the rooms whose joined local members
// DAGRooms keeps.
const maxCachedMemberLists = 1024

// DAGRooms implements Rooms over the room DAG. It caches each room's
// joined local members until the room's state changes.
type DAGRooms struct {
	dag    *room.DAG
	suffix string

	mu    sync.Mutex
	cache map[string]memberList
}

// memberList is a room's joined local members in the state with ID
// state (room.DAG.StateID).
type memberList struct {
	state   uint64
	members []string
}

// NewDAGRooms returns Rooms over dag for the server serverName.
func NewDAGRooms(dag *room.DAG, serverName string) *DAGRooms {
	return &DAGRooms{dag: dag, suffix: ":" + serverName, cache: make(map[string]memberList)}
}

// Membership returns the local user's membership of the room.
func (d *DAGRooms) Membership(ctx context.Context, userID, roomID string) (string, error) {
	m, err := d.dag.MembershipOf(ctx, userID, roomID)
	return m.Membership, err
}

// JoinedLocalMembers returns this server's users joined to the room, none
// for a room the server does not know. The slice is shared: callers may
// append to it but must not change its elements.
func (d *DAGRooms) JoinedLocalMembers(ctx context.Context, roomID string) ([]string, error) {
	stateID, err := d.dag.StateID(ctx, roomID)
	if errors.Is(err, room.ErrUnknownRoom) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	c, ok := d.cache[roomID]
	d.mu.Unlock()
	if ok && c.state == stateID {
		return slices.Clip(c.members), nil
	}
	state, err := d.dag.CurrentState(ctx, roomID)
	if err != nil {
		return nil, err
	}
	local := room.State{}
	for k, id := range state {
		if k.Type == "m.room.member" && strings.HasSuffix(k.StateKey, d.suffix) {
			local[k] = id
		}
	}
	evs, err := d.dag.StateEvents(ctx, local)
	if err != nil {
		return nil, fmt.Errorf("ephemeral: member events: %w", err)
	}
	members := []string{}
	for k, ev := range evs {
		if ev.Membership() == "join" {
			members = append(members, k.StateKey)
		}
	}
	d.mu.Lock()
	if len(d.cache) >= maxCachedMemberLists {
		for r := range d.cache {
			delete(d.cache, r)
			break
		}
	}
	d.cache[roomID] = memberList{state: stateID, members: members}
	d.mu.Unlock()
	return slices.Clip(members), nil
}

// SharedUsers returns this server's users joined to a room userID is
// joined to, userID included.
func (d *DAGRooms) SharedUsers(ctx context.Context, userID string) ([]string, error) {
	rooms, err := d.dag.Rooms(ctx, userID)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{userID: true}
	out := []string{userID}
	for roomID, m := range rooms {
		if m.Membership != "join" {
			continue
		}
		members, err := d.JoinedLocalMembers(ctx, roomID)
		if err != nil {
			return nil, err
		}
		for _, u := range members {
			if !seen[u] {
				seen[u] = true
				out = append(out, u)
			}
		}
	}
	return out, nil
}
