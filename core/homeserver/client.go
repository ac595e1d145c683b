package homeserver

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"hearth/core/accountdata"
	"hearth/core/accounts"
	"hearth/core/clientapi"
	"hearth/core/clientapi/account"
	"hearth/core/clientapi/keys"
	clientmedia "hearth/core/clientapi/media"
	"hearth/core/clientapi/profile"
	"hearth/core/clientapi/rooms"
	"hearth/core/clientapi/syncapi"
	"hearth/core/clientapi/userdata"
	"hearth/core/e2ee"
	"hearth/core/ephemeral"
	"hearth/core/media"
	"hearth/core/notifications"
	"hearth/core/notify"
	"hearth/core/room"
	"hearth/core/syncer"
	"hearth/core/visibility"
	"hearth/persist"
)

// clientAPI is every area of the client-server API and the services behind
// them, built once per Server.
type clientAPI struct {
	log      func(msg string, args ...any)
	fed      *federation
	dag      *room.DAG
	notifier *notify.Notifier
	members  *ephemeral.DAGRooms
	waker    *roomWaker
	data     *accountdata.Store
	eph      *ephemeral.Ephemeral
	notif    *notifications.Service
	e2ee     *e2ee.Service
	syncer   *syncer.Syncer
	media    *media.Repo

	account  *account.Handlers
	rooms    *rooms.Handlers
	keys     *keys.Handlers
	sync     *syncapi.Handlers
	userdata *userdata.Handlers
	mediaAPI *clientmedia.Handlers
	profile  *profile.Handlers
}

// newClientAPI builds the services and handlers of the client API over the
// server's store and accounts.
func (s *Server) newClientAPI(ctx context.Context) (*clientAPI, error) {
	cfg := s.cfg
	c := &clientAPI{notifier: notify.New(), log: s.log.Error, fed: s.fed}
	var err error
	if c.dag, err = room.New(ctx, room.Config{
		ServerName:  cfg.ServerName,
		Key:         cfg.SigningKey,
		Store:       cfg.Store,
		Now:         cfg.Now,
		Rand:        cfg.Rand,
		Keys:        s.fed.ring,
		OnAccepted:  c.onAccepted,
		Index:       c.index,
		Countersign: s.fed.countersign,
	}); err != nil {
		return nil, err
	}
	if err := s.fed.afterDAG(ctx, s, c.dag); err != nil {
		return nil, err
	}
	c.members = ephemeral.NewDAGRooms(c.dag, cfg.ServerName)
	c.waker = &roomWaker{members: c.members, wake: c.notifier.Wake, wakeAll: c.notifier.WakeAll, log: c.log}
	if c.data, err = accountdata.New(ctx, accountdata.Config{
		Store:        cfg.Store,
		Wake:         c.notifier.Wake,
		Defaults:     notifications.AccountDataDefaults,
		DefaultTypes: []string{notifications.PushRulesType},
	}); err != nil {
		return nil, err
	}
	if c.notif, err = notifications.New(notifications.Config{
		ServerName:  cfg.ServerName,
		Store:       cfg.Store,
		Rooms:       c.dag,
		AccountData: c.data,
		Logf:        func(format string, args ...any) { s.log.Error(fmt.Sprintf(format, args...)) },
	}); err != nil {
		return nil, err
	}
	ephCfg := ephemeral.Config{
		Store:       cfg.Store,
		Now:         cfg.Now,
		Wake:        c.notifier.Wake,
		Rooms:       c.members,
		Events:      c.dag,
		AccountData: c.data,
		Read:        c.notif,
		AfterFunc:   cfg.AfterFunc,
	}
	e2eeCfg := e2ee.Config{
		Store:      cfg.Store,
		ServerName: cfg.ServerName,
		Devices:    accountDevices{s.accounts},
		Members:    c.members,
		Wake:       c.notifier.Wake,
	}
	// With outbound federation, local typing, receipts, presence, device
	// and signing key changes and to-device messages to remote users go out
	// as EDUs.
	if out := s.fed.outboundEDUs(s, c.dag); out != nil {
		ephCfg.OnTyping, ephCfg.OnReceipt, ephCfg.OnPresence = out.Typing, out.Receipt, out.Presence
		e2eeCfg.Remote = out
		e2eeCfg.OnDeviceChange, e2eeCfg.OnSigningKeyChange = out.DeviceChange, out.SigningKeyChange
	}
	if c.eph, err = ephemeral.New(ctx, ephCfg); err != nil {
		return nil, err
	}
	if c.e2ee, err = e2ee.New(ctx, e2eeCfg); err != nil {
		return nil, err
	}
	txns := rooms.NewTxns(cfg.Store, c.dag)
	roomsCfg := rooms.Config{
		DAG:        c.dag,
		Store:      cfg.Store,
		ServerName: cfg.ServerName,
		Now:        cfg.Now,
		Rand:       cfg.Rand,
		Profiles:   accountProfiles{s.accounts},
		Txns:       txns,
		Logger:     s.log,
	}
	if s.fed.joiner != nil {
		roomsCfg.RemoteJoiner = s.fed.joiner
		roomsCfg.RemoteAliases = s.fed.joiner
	}
	if c.rooms, err = rooms.New(roomsCfg); err != nil {
		return nil, err
	}
	if c.syncer, err = syncer.New(syncer.Config{
		DAG:          c.dag,
		Store:        cfg.Store,
		ServerName:   cfg.ServerName,
		Now:          cfg.Now,
		Notifier:     c.notifier,
		AccountData:  c.data,
		ToDevice:     c.e2ee.ToDevice(),
		DeviceKeys:   c.e2ee.DeviceKeys(),
		Receipts:     c.eph.Receipts,
		Typing:       c.eph.Typing,
		Presence:     c.eph.Presence,
		Unread:       c.notif,
		Visibility:   visibility.NewChecker(c.dag),
		Transactions: txns,
		Forgotten:    c.rooms,
		// Invites to rooms of other servers: the federation handlers
		// keep them.
		RemoteInvites: s.fed.remoteInvites(),
		Pace:          syncPace,
		Sleep:         sleepWith(cfg.AfterFunc),
	}); err != nil {
		return nil, err
	}

	mediaCfg := media.Config{
		ServerName:    cfg.ServerName,
		Store:         cfg.Store,
		Now:           cfg.Now,
		Rand:          cfg.Rand,
		MaxUploadSize: cfg.MaxUploadSize,
		Codec:         cfg.ImageCodec,
	}
	// With outbound federation, other servers' files are fetched from
	// them (and kept); without it they are not found.
	if s.outbound() {
		mediaCfg.Remote = remoteMedia{s.fed.client}
	}
	if c.media, err = media.New(mediaCfg); err != nil {
		return nil, err
	}
	// Chunks of uploads that a crash interrupted are never served; drop them.
	if _, err := c.media.Sweep(ctx, time.Hour); err != nil {
		return nil, fmt.Errorf("sweeping interrupted uploads: %w", err)
	}

	if c.account, err = account.New(account.Config{
		Accounts:     s.accounts,
		ServerName:   cfg.ServerName,
		Registration: account.RegistrationMode(cfg.Registration),
		BaseURL:      cfg.PublicBaseURL,
	}); err != nil {
		return nil, err
	}
	if c.keys, err = keys.New(keys.Config{E2EE: c.e2ee, Authorize: c.account.Authorize}); err != nil {
		return nil, err
	}
	if c.sync, err = syncapi.New(syncapi.Config{Syncer: c.syncer}); err != nil {
		return nil, err
	}
	if c.userdata, err = userdata.New(userdata.Config{
		AccountData:   c.data,
		Ephemeral:     c.eph,
		Notifications: c.notif,
		Now:           cfg.Now,
	}); err != nil {
		return nil, err
	}
	if c.mediaAPI, err = clientmedia.New(clientmedia.Config{Repo: c.media}); err != nil {
		return nil, err
	}
	profileCfg := profile.Config{
		ServerName:  cfg.ServerName,
		Accounts:    s.accounts,
		DAG:         c.dag,
		PublicRooms: c.rooms,
		Logger:      s.log,
	}
	// With outbound federation, other servers' users' profiles are asked
	// of their servers.
	if s.outbound() {
		profileCfg.RemoteProfiles = remoteProfiles{s.fed.client}
	}
	if c.profile, err = profile.New(profileCfg); err != nil {
		return nil, err
	}
	return c, nil
}

// register adds every client API route to mux.
func (c *clientAPI) register(mux *http.ServeMux, auth clientapi.Authenticator) {
	rt := clientapi.NewRouter(mux, auth)
	c.account.Register(rt)
	c.rooms.Register(rt)
	c.keys.Register(rt)
	c.sync.Register(rt)
	c.userdata.Register(rt)
	c.mediaAPI.Register(rt)
	c.profile.Register(rt)
}

// close wakes every waiting /sync, so that none outlives the server.
func (c *clientAPI) close() {
	c.notifier.WakeAll()
}

// index runs inside the transaction that stores each timeline event, so
// that the room endpoints' relation and thread indexes are durable exactly
// when the event is. The DAG exists before the room endpoints do; events
// added before then (none, in practice) are not indexed.
func (c *clientAPI) index(tx persist.Tx, a room.Added) error {
	if err := c.fed.index(tx, a); err != nil {
		return err
	}
	if c.rooms == nil {
		return nil
	}
	return c.rooms.Index(tx, a)
}

// onAccepted runs, in room order and under the room's write lock, after
// each timeline event is durable. Work that reads the room's state again
// runs on its own goroutine so that it never waits for the lock held here.
func (c *clientAPI) onAccepted(a room.Added) {
	c.fed.accepted(a)
	c.waker.accepted(a)
}

// onDeviceDeleted drops what other areas keep per device.
func (c *clientAPI) onDeviceDeleted(ctx context.Context, userID, deviceID string) {
	if err := c.e2ee.DeleteDevice(ctx, userID, deviceID); err != nil {
		c.log("deleting a device's keys", "user", userID, "device", deviceID, "err", err)
	}
	if err := c.notif.DeleteDevicePushers(ctx, userID, deviceID); err != nil {
		c.log("deleting a device's pushers", "user", userID, "device", deviceID, "err", err)
	}
}

// onDeactivated makes a deactivated user leave every room they are in or
// invited to, as the spec's deactivation asks.
func (c *clientAPI) onDeactivated(ctx context.Context, userID string) {
	memberships, err := c.dag.Rooms(ctx, userID)
	if err != nil {
		c.log("listing a deactivated user's rooms", "user", userID, "err", err)
		return
	}
	leave, _ := json.Marshal(map[string]string{"membership": "leave"})
	for roomID, m := range memberships {
		switch m.Membership {
		case "join", "invite", "knock":
			_, err := c.dag.Send(ctx, roomID, room.Proto{Sender: userID, Type: "m.room.member", StateKey: &userID, Content: leave})
			if err != nil {
				c.log("leaving a room on deactivation", "user", userID, "room", roomID, "err", err)
			}
		}
	}
}

// accountDevices lists devices for core/e2ee.
type accountDevices struct{ acc *accounts.Accounts }

func (a accountDevices) Devices(ctx context.Context, userID string) ([]e2ee.DeviceInfo, error) {
	devs, err := a.acc.Devices(ctx, userID)
	if err != nil {
		return nil, err
	}
	out := make([]e2ee.DeviceInfo, len(devs))
	for i, d := range devs {
		out[i] = e2ee.DeviceInfo{ID: d.ID, DisplayName: d.DisplayName}
	}
	return out, nil
}

// accountProfiles gives the room endpoints users' profiles.
type accountProfiles struct{ acc *accounts.Accounts }

func (a accountProfiles) Profile(ctx context.Context, userID string) (string, string, error) {
	p, err := a.acc.Profile(ctx, userID)
	if err != nil {
		return "", "", nil // users without a profile (or of other servers) get none
	}
	return p.DisplayName, p.AvatarURL, nil
}
