package fedclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// Path prefixes of the server-server and key APIs.
const (
	prefixV1  = "/_matrix/federation/v1"
	prefixV2  = "/_matrix/federation/v2"
	prefixKey = "/_matrix/key/v2"
)

// GetServerKeys fetches destination's own key response
// (GET /_matrix/key/v2/server) as raw JSON, unverified: check it with
// serverkey.Verify.
func (c *Client) GetServerKeys(ctx context.Context, destination string) ([]byte, error) {
	var raw []byte
	if err := c.Do(ctx, destination, http.MethodGet, prefixKey+"/server", nil, &raw); err != nil {
		return nil, err
	}
	return raw, nil
}

// KeyCriteria is one key ID's criteria in a notary query.
type KeyCriteria struct {
	// MinimumValidUntilTS asks for keys valid until at least then
	// (milliseconds); 0 leaves it to the notary (the current time).
	MinimumValidUntilTS int64 `json:"minimum_valid_until_ts,omitempty"`
}

// QueryKeys asks the notary for the keys of other servers
// (POST /_matrix/key/v2/query). query maps server names to key IDs to
// criteria; an empty inner map asks for all keys. The answer is the list of
// key responses as raw JSON, unverified: each must be checked with
// serverkey.Verify and for the notary's signature.
func (c *Client) QueryKeys(ctx context.Context, notary string, query map[string]map[string]KeyCriteria) ([]json.RawMessage, error) {
	body := struct {
		ServerKeys map[string]map[string]KeyCriteria `json:"server_keys"`
	}{query}
	var resp struct {
		ServerKeys []json.RawMessage `json:"server_keys"`
	}
	if err := c.Do(ctx, notary, http.MethodPost, prefixKey+"/query", body, &resp); err != nil {
		return nil, err
	}
	return resp.ServerKeys, nil
}

// ServerVersion is the answer of GET /_matrix/federation/v1/version.
type ServerVersion struct {
	// Name and Version describe the server's software.
	Name    string `json:"name"`
	Version string `json:"version"`
}

// Version asks destination which software it runs.
func (c *Client) Version(ctx context.Context, destination string) (ServerVersion, error) {
	var resp struct {
		Server ServerVersion `json:"server"`
	}
	err := c.Do(ctx, destination, http.MethodGet, prefixV1+"/version", nil, &resp)
	return resp.Server, err
}

// Transaction is a federation transaction as served by /event and
// /backfill: an origin, its timestamp and raw PDUs.
type Transaction struct {
	Origin         string            `json:"origin"`
	OriginServerTS int64             `json:"origin_server_ts"`
	PDUs           []json.RawMessage `json:"pdus"`
}

// PDUResult is the receiver's verdict on one PDU of a transaction: empty
// Error means it was processed.
type PDUResult struct {
	Error string `json:"error,omitempty"`
}

// SendTransaction sends a transaction of at most 50 PDUs and 100 EDUs
// (PUT /_matrix/federation/v1/send/{txnId}) and returns the per-PDU
// results by event ID. Resending the same txnID with the same content is
// how a sender retries.
func (c *Client) SendTransaction(ctx context.Context, destination, txnID string, pdus, edus []json.RawMessage) (map[string]PDUResult, error) {
	if pdus == nil {
		pdus = []json.RawMessage{}
	}
	body := struct {
		Origin         string            `json:"origin"`
		OriginServerTS int64             `json:"origin_server_ts"`
		PDUs           []json.RawMessage `json:"pdus"`
		EDUs           []json.RawMessage `json:"edus,omitempty"`
	}{c.cfg.ServerName, c.cfg.Now().UnixMilli(), pdus, edus}
	var resp struct {
		PDUs map[string]PDUResult `json:"pdus"`
	}
	if err := c.Do(ctx, destination, http.MethodPut, Path(prefixV1+"/send", txnID), body, &resp); err != nil {
		return nil, err
	}
	return resp.PDUs, nil
}

// GetEvent fetches one event (GET /_matrix/federation/v1/event/{eventId})
// and returns its raw PDU.
func (c *Client) GetEvent(ctx context.Context, destination, eventID string) (json.RawMessage, error) {
	var txn Transaction
	if err := c.Do(ctx, destination, http.MethodGet, Path(prefixV1+"/event", eventID), nil, &txn); err != nil {
		return nil, err
	}
	if len(txn.PDUs) != 1 {
		return nil, fmt.Errorf("fedclient: event %s from %s: got %d PDUs, want 1", eventID, destination, len(txn.PDUs))
	}
	return txn.PDUs[0], nil
}

// StateIDs is the answer of /state_ids: the IDs of the room state at an
// event and of its auth chain.
type StateIDs struct {
	AuthChainIDs []string `json:"auth_chain_ids"`
	PDUIDs       []string `json:"pdu_ids"`
}

// GetStateIDs fetches the IDs of the state of roomID before eventID
// (GET /_matrix/federation/v1/state_ids/{roomId}?event_id=).
func (c *Client) GetStateIDs(ctx context.Context, destination, roomID, eventID string) (StateIDs, error) {
	var resp StateIDs
	p := Query(Path(prefixV1+"/state_ids", roomID), url.Values{"event_id": {eventID}})
	err := c.Do(ctx, destination, http.MethodGet, p, nil, &resp)
	return resp, err
}

// State is the answer of /state: the room state at an event and its auth
// chain, as raw PDUs.
type State struct {
	AuthChain []json.RawMessage `json:"auth_chain"`
	PDUs      []json.RawMessage `json:"pdus"`
}

// GetState fetches the state of roomID before eventID
// (GET /_matrix/federation/v1/state/{roomId}?event_id=).
func (c *Client) GetState(ctx context.Context, destination, roomID, eventID string) (State, error) {
	var resp State
	p := Query(Path(prefixV1+"/state", roomID), url.Values{"event_id": {eventID}})
	err := c.Do(ctx, destination, http.MethodGet, p, nil, &resp)
	return resp, err
}

// GetEventAuth fetches the full auth chain of eventID
// (GET /_matrix/federation/v1/event_auth/{roomId}/{eventId}).
func (c *Client) GetEventAuth(ctx context.Context, destination, roomID, eventID string) ([]json.RawMessage, error) {
	var resp struct {
		AuthChain []json.RawMessage `json:"auth_chain"`
	}
	err := c.Do(ctx, destination, http.MethodGet, Path(prefixV1+"/event_auth", roomID, eventID), nil, &resp)
	return resp.AuthChain, err
}

// MissingEventsRequest is the body of /get_missing_events.
type MissingEventsRequest struct {
	// EarliestEvents are the latest events the requester already has.
	EarliestEvents []string `json:"earliest_events"`
	// LatestEvents are the events whose missing ancestors are wanted.
	LatestEvents []string `json:"latest_events"`
	// Limit is the most events to return (the server's default is 10).
	Limit int `json:"limit,omitempty"`
	// MinDepth is the lowest depth of events to return.
	MinDepth int64 `json:"min_depth,omitempty"`
}

// GetMissingEvents fetches the events between req.EarliestEvents and
// req.LatestEvents (POST /_matrix/federation/v1/get_missing_events/{roomId}).
func (c *Client) GetMissingEvents(ctx context.Context, destination, roomID string, req MissingEventsRequest) ([]json.RawMessage, error) {
	if req.EarliestEvents == nil {
		req.EarliestEvents = []string{}
	}
	var resp struct {
		Events []json.RawMessage `json:"events"`
	}
	err := c.Do(ctx, destination, http.MethodPost, Path(prefixV1+"/get_missing_events", roomID), req, &resp)
	return resp.Events, err
}

// Backfill fetches up to limit events preceding (and including) the events
// from (GET /_matrix/federation/v1/backfill/{roomId}?v=...&limit=).
func (c *Client) Backfill(ctx context.Context, destination, roomID string, from []string, limit int) (Transaction, error) {
	if len(from) == 0 {
		return Transaction{}, errors.New("fedclient: backfill: no starting events")
	}
	q := url.Values{"v": from, "limit": {strconv.Itoa(limit)}}
	var txn Transaction
	err := c.Do(ctx, destination, http.MethodGet, Query(Path(prefixV1+"/backfill", roomID), q), nil, &txn)
	return txn, err
}

// MembershipTemplate is the answer of /make_join, /make_leave and
// /make_knock: an unsigned event to complete and sign, and the room's
// version (absent from older /make_leave answers).
type MembershipTemplate struct {
	RoomVersion string          `json:"room_version,omitempty"`
	Event       json.RawMessage `json:"event"`
}

// MakeJoin asks a resident server for a join event template
// (GET /_matrix/federation/v1/make_join/{roomId}/{userId}?ver=...). versions
// are the room versions this server supports; a room of another version
// is refused with M_INCOMPATIBLE_ROOM_VERSION.
func (c *Client) MakeJoin(ctx context.Context, destination, roomID, userID string, versions []string) (MembershipTemplate, error) {
	var resp MembershipTemplate
	p := Query(Path(prefixV1+"/make_join", roomID, userID), url.Values{"ver": versions})
	err := c.Do(ctx, destination, http.MethodGet, p, nil, &resp)
	return resp, err
}

// SendJoinResponse is the answer of PUT /_matrix/federation/v2/send_join.
type SendJoinResponse struct {
	// Origin is the resident server that answered.
	Origin string `json:"origin"`
	// AuthChain and State are the auth chain and the room state before
	// the join, as raw PDUs.
	AuthChain []json.RawMessage `json:"auth_chain"`
	State     []json.RawMessage `json:"state"`
	// Event is the join as the resident server signed it (restricted
	// joins), if it did.
	Event json.RawMessage `json:"event,omitempty"`
	// MembersOmitted is true when the state leaves out membership events
	// (a partial-state join, asked for with omitMembers).
	MembersOmitted bool `json:"members_omitted,omitempty"`
	// ServersInRoom lists the servers in the room when members were
	// omitted.
	ServersInRoom []string `json:"servers_in_room,omitempty"`
}

// SendJoin submits a signed join event
// (PUT /_matrix/federation/v2/send_join/{roomId}/{eventId}). omitMembers
// asks for a partial-state answer without membership events.
func (c *Client) SendJoin(ctx context.Context, destination, roomID, eventID string, event json.RawMessage, omitMembers bool) (SendJoinResponse, error) {
	p := Path(prefixV2+"/send_join", roomID, eventID)
	if omitMembers {
		p = Query(p, url.Values{"omit_members": {"true"}})
	}
	var resp SendJoinResponse
	err := c.Do(ctx, destination, http.MethodPut, p, event, &resp)
	return resp, err
}

// MakeLeave asks a resident server for a leave event template
// (GET /_matrix/federation/v1/make_leave/{roomId}/{userId}).
func (c *Client) MakeLeave(ctx context.Context, destination, roomID, userID string) (MembershipTemplate, error) {
	var resp MembershipTemplate
	err := c.Do(ctx, destination, http.MethodGet, Path(prefixV1+"/make_leave", roomID, userID), nil, &resp)
	return resp, err
}

// SendLeave submits a signed leave event
// (PUT /_matrix/federation/v2/send_leave/{roomId}/{eventId}).
func (c *Client) SendLeave(ctx context.Context, destination, roomID, eventID string, event json.RawMessage) error {
	return c.Do(ctx, destination, http.MethodPut, Path(prefixV2+"/send_leave", roomID, eventID), event, nil)
}

// InviteRequest is the body of PUT /_matrix/federation/v2/invite.
type InviteRequest struct {
	// RoomVersion is the room's version.
	RoomVersion string `json:"room_version"`
	// Event is the invite event, signed by the inviting server.
	Event json.RawMessage `json:"event"`
	// InviteRoomState is stripped state to show the invitee.
	InviteRoomState []json.RawMessage `json:"invite_room_state,omitempty"`
}

// Invite asks the invitee's server to sign an invite
// (PUT /_matrix/federation/v2/invite/{roomId}/{eventId}) and returns the
// event with its signature added.
func (c *Client) Invite(ctx context.Context, destination, roomID, eventID string, req InviteRequest) (json.RawMessage, error) {
	var resp struct {
		Event json.RawMessage `json:"event"`
	}
	err := c.Do(ctx, destination, http.MethodPut, Path(prefixV2+"/invite", roomID, eventID), req, &resp)
	if err == nil && len(resp.Event) == 0 {
		err = fmt.Errorf("fedclient: invite %s to %s: answer has no event", eventID, destination)
	}
	return resp.Event, err
}

// MakeKnock asks a resident server for a knock event template
// (GET /_matrix/federation/v1/make_knock/{roomId}/{userId}?ver=...).
func (c *Client) MakeKnock(ctx context.Context, destination, roomID, userID string, versions []string) (MembershipTemplate, error) {
	var resp MembershipTemplate
	p := Query(Path(prefixV1+"/make_knock", roomID, userID), url.Values{"ver": versions})
	err := c.Do(ctx, destination, http.MethodGet, p, nil, &resp)
	return resp, err
}

// SendKnock submits a signed knock event
// (PUT /_matrix/federation/v1/send_knock/{roomId}/{eventId}) and returns
// the stripped room state shown to the knocking user.
func (c *Client) SendKnock(ctx context.Context, destination, roomID, eventID string, event json.RawMessage) ([]json.RawMessage, error) {
	var resp struct {
		KnockRoomState []json.RawMessage `json:"knock_room_state"`
	}
	err := c.Do(ctx, destination, http.MethodPut, Path(prefixV1+"/send_knock", roomID, eventID), event, &resp)
	return resp.KnockRoomState, err
}

// Directory is the answer of a room alias query.
type Directory struct {
	RoomID  string   `json:"room_id"`
	Servers []string `json:"servers"`
}

// QueryDirectory resolves a room alias on its server
// (GET /_matrix/federation/v1/query/directory?room_alias=).
func (c *Client) QueryDirectory(ctx context.Context, destination, alias string) (Directory, error) {
	var resp Directory
	p := Query(prefixV1+"/query/directory", url.Values{"room_alias": {alias}})
	err := c.Do(ctx, destination, http.MethodGet, p, nil, &resp)
	return resp, err
}

// QueryProfile fetches a user's profile from their server
// (GET /_matrix/federation/v1/query/profile?user_id=&field=). field is
// "displayname", "avatar_url" or "" for the whole profile; the answer maps
// profile fields to their raw JSON values.
func (c *Client) QueryProfile(ctx context.Context, destination, userID, field string) (map[string]json.RawMessage, error) {
	q := url.Values{"user_id": {userID}}
	if field != "" {
		q.Set("field", field)
	}
	var resp map[string]json.RawMessage
	err := c.Do(ctx, destination, http.MethodGet, Query(prefixV1+"/query/profile", q), nil, &resp)
	return resp, err
}

// Device is one device in a /user/devices answer.
type Device struct {
	DeviceID    string          `json:"device_id"`
	DisplayName string          `json:"device_display_name,omitempty"`
	Keys        json.RawMessage `json:"keys,omitempty"`
}

// UserDevices is the answer of GET /_matrix/federation/v1/user/devices.
type UserDevices struct {
	UserID         string          `json:"user_id"`
	StreamID       int64           `json:"stream_id"`
	Devices        []Device        `json:"devices"`
	MasterKey      json.RawMessage `json:"master_key,omitempty"`
	SelfSigningKey json.RawMessage `json:"self_signing_key,omitempty"`
}

// UserDevices fetches a remote user's device list and cross-signing keys
// (GET /_matrix/federation/v1/user/devices/{userId}).
func (c *Client) UserDevices(ctx context.Context, destination, userID string) (UserDevices, error) {
	var resp UserDevices
	err := c.Do(ctx, destination, http.MethodGet, Path(prefixV1+"/user/devices", userID), nil, &resp)
	return resp, err
}

// KeysQuery is the answer of POST /_matrix/federation/v1/user/keys/query,
// with keys as raw JSON (they carry their owners' signatures).
type KeysQuery struct {
	DeviceKeys      map[string]map[string]json.RawMessage `json:"device_keys"`
	MasterKeys      map[string]json.RawMessage            `json:"master_keys,omitempty"`
	SelfSigningKeys map[string]json.RawMessage            `json:"self_signing_keys,omitempty"`
}

// UserKeysQuery fetches device keys (POST /_matrix/federation/v1/user/keys/query).
// deviceKeys maps user IDs to device IDs; an empty list asks for all of a
// user's devices.
func (c *Client) UserKeysQuery(ctx context.Context, destination string, deviceKeys map[string][]string) (KeysQuery, error) {
	for u, ds := range deviceKeys {
		if ds == nil {
			deviceKeys[u] = []string{}
		}
	}
	body := struct {
		DeviceKeys map[string][]string `json:"device_keys"`
	}{deviceKeys}
	var resp KeysQuery
	err := c.Do(ctx, destination, http.MethodPost, prefixV1+"/user/keys/query", body, &resp)
	return resp, err
}

// UserKeysClaim claims one-time keys (POST /_matrix/federation/v1/user/keys/claim).
// oneTimeKeys maps user IDs to device IDs to key algorithms; the answer
// maps user IDs to device IDs to "algorithm:key_id" to the raw key.
func (c *Client) UserKeysClaim(ctx context.Context, destination string, oneTimeKeys map[string]map[string]string) (map[string]map[string]map[string]json.RawMessage, error) {
	body := struct {
		OneTimeKeys map[string]map[string]string `json:"one_time_keys"`
	}{oneTimeKeys}
	var resp struct {
		OneTimeKeys map[string]map[string]map[string]json.RawMessage `json:"one_time_keys"`
	}
	err := c.Do(ctx, destination, http.MethodPost, prefixV1+"/user/keys/claim", body, &resp)
	return resp.OneTimeKeys, err
}

// PublicRoomsRequest asks for a page of a server's room directory.
type PublicRoomsRequest struct {
	Limit                int             `json:"limit,omitempty"`
	Since                string          `json:"since,omitempty"`
	Filter               json.RawMessage `json:"filter,omitempty"`
	IncludeAllNetworks   bool            `json:"include_all_networks,omitempty"`
	ThirdPartyInstanceID string          `json:"third_party_instance_id,omitempty"`
}

// PublicRooms is a page of a server's room directory.
type PublicRooms struct {
	Chunk                  []json.RawMessage `json:"chunk"`
	NextBatch              string            `json:"next_batch,omitempty"`
	PrevBatch              string            `json:"prev_batch,omitempty"`
	TotalRoomCountEstimate int               `json:"total_room_count_estimate,omitempty"`
}

// PublicRooms fetches a page of destination's room directory: with GET
// when req has no filter, with POST (/publicRooms with a body) when it has.
func (c *Client) PublicRooms(ctx context.Context, destination string, req PublicRoomsRequest) (PublicRooms, error) {
	var resp PublicRooms
	if len(req.Filter) > 0 {
		err := c.Do(ctx, destination, http.MethodPost, prefixV1+"/publicRooms", req, &resp)
		return resp, err
	}
	q := url.Values{}
	if req.Limit > 0 {
		q.Set("limit", strconv.Itoa(req.Limit))
	}
	if req.Since != "" {
		q.Set("since", req.Since)
	}
	if req.IncludeAllNetworks {
		q.Set("include_all_networks", "true")
	}
	if req.ThirdPartyInstanceID != "" {
		q.Set("third_party_instance_id", req.ThirdPartyInstanceID)
	}
	err := c.Do(ctx, destination, http.MethodGet, Query(prefixV1+"/publicRooms", q), nil, &resp)
	return resp, err
}

// Hierarchy is the answer of GET /_matrix/federation/v1/hierarchy.
type Hierarchy struct {
	Room                 json.RawMessage   `json:"room"`
	Children             []json.RawMessage `json:"children"`
	InaccessibleChildren []string          `json:"inaccessible_children"`
}

// Hierarchy fetches a space's room and its children
// (GET /_matrix/federation/v1/hierarchy/{roomId}).
func (c *Client) Hierarchy(ctx context.Context, destination, roomID string, suggestedOnly bool) (Hierarchy, error) {
	p := Path(prefixV1+"/hierarchy", roomID)
	if suggestedOnly {
		p = Query(p, url.Values{"suggested_only": {"true"}})
	}
	var resp Hierarchy
	err := c.Do(ctx, destination, http.MethodGet, p, nil, &resp)
	return resp, err
}
