// End-to-end test of hearth's client-server API with matrix-js-sdk.
//
//   node tests/jssdk/test.mjs http://127.0.0.1:PORT
//
// The server must allow open registration (UIA with m.login.dummy). Two users
// register, share a room, exchange 100 messages that each sees in order through
// /sync and /messages, see each other's typing and read receipts, and then talk
// with end-to-end encryption (the SDK's rust crypto, megolm). Every wait is
// bounded; any failure prints what was expected and exits non-zero.

import * as sdk from "matrix-js-sdk";
import { logger } from "matrix-js-sdk/lib/logger.js";

const baseUrl = process.argv[2];
if (!baseUrl) {
  console.error("usage: node test.mjs <client base URL>");
  process.exit(2);
}

const WAIT_MS = 20_000;
const MESSAGES = 100;
const started = Date.now();
const verbose = !!process.env.JSSDK_VERBOSE;
// The SDK and its rust crypto (tracing turned on at debug level by
// initRustCrypto) write to the console; without JSSDK_VERBOSE only their
// errors and warnings get through, and this script writes to stdout itself.
const out = (line) => process.stdout.write(line + "\n");
if (!verbose) {
  for (const k of ["debug", "info", "log", "trace"]) console[k] = () => {};
  // The SDK's MatrixRTC manager complains about every state event of a room
  // it has not yet seen, and rust crypto's tracing about the messages sent
  // before a device existed, which it rightly cannot decrypt: neither is
  // about the server.
  const noise = (args) =>
    String(args[0]).startsWith("[MatrixRTCSessionManager]") || String(args[0]).startsWith("WARN matrix_sdk_crypto");
  for (const k of ["warn", "error"]) {
    const orig = console[k];
    console[k] = (...args) => {
      if (!noise(args)) orig(...args);
    };
  }
}
// loglevel binds the console's methods when a level is set: set it after
// the console is quietened.
logger.setLevel(verbose ? "debug" : "error");

let passed = 0;
let failed = 0;
const clients = [];

function elapsed() {
  return ((Date.now() - started) / 1000).toFixed(1) + "s";
}

function log(...args) {
  out(`[${elapsed()}] ${args.join(" ")}`);
}

class TestFailure extends Error {}

function assert(cond, msg) {
  if (!cond) throw new TestFailure(msg);
}

function assertEqual(got, want, msg) {
  const g = JSON.stringify(got);
  const w = JSON.stringify(want);
  if (g !== w) throw new TestFailure(`${msg}: got ${g}, want ${w}`);
}

// waitFor polls check (and re-checks whenever one of the emitters fires one of
// the events) until it returns a truthy value, or fails after ms.
function waitFor(what, check, { ms = WAIT_MS, on = [] } = {}) {
  return new Promise((resolve, reject) => {
    let done = false;
    const listeners = [];
    const finish = (err, value) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      clearInterval(poll);
      for (const [em, ev, fn] of listeners) em.off(ev, fn);
      err ? reject(err) : resolve(value);
    };
    const tryCheck = () => {
      if (done) return;
      try {
        const v = check();
        if (v) finish(null, v);
      } catch (e) {
        finish(e);
      }
    };
    const timer = setTimeout(() => {
      let detail = "";
      try {
        detail = check.describe ? ": " + check.describe() : "";
      } catch (_) {}
      finish(new TestFailure(`timed out after ${ms / 1000}s waiting for ${what}${detail}`));
    }, ms);
    const poll = setInterval(tryCheck, 100);
    for (const [em, ev] of on) {
      const fn = () => tryCheck();
      em.on(ev, fn);
      listeners.push([em, ev, fn]);
    }
    tryCheck();
  });
}

// withTimeout bounds a promise (a request) by ms.
function withTimeout(what, promise, ms = WAIT_MS) {
  let timer;
  return Promise.race([
    promise,
    new Promise((_, reject) => {
      timer = setTimeout(() => reject(new TestFailure(`timed out after ${ms / 1000}s: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

// eventually polls an async check until it returns a truthy value, or fails
// after ms with the last value it saw.
async function eventually(what, check, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  let last;
  for (;;) {
    last = await withTimeout(what, check(), ms);
    if (last?.ok) return last;
    if (Date.now() > deadline) throw new TestFailure(`timed out after ${ms / 1000}s waiting for ${what}: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

// serverUnread reads a user's unread_notifications for a room straight from
// a fresh /sync, not from the SDK's copy (the SDK also changes its counts
// locally when it sends a receipt).
async function serverUnread(token, roomId) {
  const filter = encodeURIComponent(JSON.stringify({ room: { rooms: [roomId], timeline: { limit: 1 } } }));
  const res = await fetch(`${baseUrl}/_matrix/client/v3/sync?filter=${filter}`, { headers: { authorization: `Bearer ${token}` } });
  const body = await res.json();
  assertEqual(res.status, 200, `GET /sync: ${JSON.stringify(body)}`);
  return body.rooms?.join?.[roomId]?.unread_notifications ?? null;
}

async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    log(`PASS ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    log(`FAIL ${name}: ${e instanceof TestFailure ? e.message : e && e.stack ? e.stack : e}`);
    throw e;
  }
}

// register creates a user through the SDK's registerRequest: the first call
// answers 401 with the UIA flows and a session, the second completes
// m.login.dummy.
async function register(username, password) {
  const anon = sdk.createClient({ baseUrl });
  let session;
  try {
    await withTimeout("register (first stage)", anon.registerRequest({ username, password }));
    throw new TestFailure("register without auth succeeded; want 401 with UIA flows");
  } catch (e) {
    if (e instanceof TestFailure) throw e;
    assertEqual(e.httpStatus, 401, `register without auth: ${e.message}`);
    const flows = e.data?.flows ?? [];
    assert(
      flows.some((f) => (f.stages ?? []).length === 1 && f.stages[0] === "m.login.dummy"),
      `register flows offer no lone m.login.dummy stage: ${JSON.stringify(e.data)}`,
    );
    session = e.data.session;
    assert(typeof session === "string" && session !== "", `register 401 has no session: ${JSON.stringify(e.data)}`);
  }
  const res = await withTimeout(
    "register (m.login.dummy)",
    anon.registerRequest({
      username,
      password,
      initial_device_display_name: `jssdk ${username}`,
      auth: { type: "m.login.dummy", session },
    }),
  );
  assert(res.access_token && res.device_id && res.user_id, `register response: ${JSON.stringify(res)}`);
  assert(res.user_id.startsWith(`@${username}:`), `registered ${res.user_id}, want @${username}:...`);
  return res;
}

// startClient creates a client for the registered account, gives it rust
// crypto with an in-memory store and waits for its first sync.
async function startClient(reg) {
  const client = sdk.createClient({
    baseUrl,
    userId: reg.user_id,
    deviceId: reg.device_id,
    accessToken: reg.access_token,
  });
  clients.push(client);
  await withTimeout("initRustCrypto", client.initRustCrypto({ useIndexedDB: false }));
  const prepared = waitFor(`first sync of ${reg.user_id}`, () => {
    const s = client.getSyncState();
    if (s === sdk.SyncState.Error) {
      throw new TestFailure(`sync of ${reg.user_id} failed: ${client.getSyncStateData()?.error}`);
    }
    return s === sdk.SyncState.Prepared || s === sdk.SyncState.Syncing;
  }, { on: [[client, sdk.ClientEvent.Sync]] });
  await client.startClient({
    initialSyncLimit: 20,
    lazyLoadMembers: true,
    // Local echoes wait in a list of their own: an event enters the live
    // timeline only when /sync delivers it, so the timeline is what sync said.
    pendingEventOrdering: sdk.PendingEventOrdering.Detached,
  });
  await prepared;
  return client;
}

// messageBodies lists the bodies of the test's messages in a room's live
// timeline, in timeline order.
function liveBodies(client, roomId, prefix) {
  const room = client.getRoom(roomId);
  if (!room) return [];
  return room
    .getLiveTimeline()
    .getEvents()
    .filter((e) => e.getType() === "m.room.message" && String(e.getContent().body ?? "").startsWith(prefix))
    .map((e) => e.getContent().body);
}

async function main() {
  log(`matrix-js-sdk against ${baseUrl} on Node ${process.version}`);
  const suffix = Date.now().toString(36) + Math.floor(Math.random() * 1e6).toString(36);
  const password = "correct horse battery staple";

  let versions;
  await step("GET /versions", async () => {
    const res = await withTimeout("versions", fetch(`${baseUrl}/_matrix/client/versions`));
    assertEqual(res.status, 200, "GET /_matrix/client/versions status");
    versions = await res.json();
    assert(Array.isArray(versions.versions) && versions.versions.length > 0, `versions: ${JSON.stringify(versions)}`);
  });

  let aliceReg, bobReg;
  await step("register alice and bob (UIA m.login.dummy)", async () => {
    aliceReg = await register(`alice${suffix}`, password);
    bobReg = await register(`bob${suffix}`, password);
  });

  let alice, bob;
  await step("start clients with rust crypto and sync", async () => {
    [alice, bob] = await Promise.all([startClient(aliceReg), startClient(bobReg)]);
    assertEqual(alice.getUserId(), aliceReg.user_id, "alice user ID");
    const who = await withTimeout("whoami", bob.whoami());
    assertEqual(who.user_id, bobReg.user_id, "whoami user_id");
    assertEqual(who.device_id, bobReg.device_id, "whoami device_id");
  });
  const aliceId = aliceReg.user_id;
  const bobId = bobReg.user_id;

  let roomId;
  await step("alice creates a room and invites bob; bob joins", async () => {
    const res = await withTimeout(
      "createRoom",
      alice.createRoom({ name: "jssdk test room", preset: sdk.Preset.PrivateChat, invite: [bobId] }),
    );
    roomId = res.room_id;
    assert(roomId && roomId.startsWith("!"), `createRoom room_id ${JSON.stringify(res)}`);
    await waitFor("bob's sync to show the invite", () => bob.getRoom(roomId)?.getMyMembership() === "invite", {
      on: [[bob, sdk.ClientEvent.Room], [bob, sdk.RoomEvent.MyMembership]],
    });
    const inviter = bob.getRoom(roomId).getMember(bobId)?.events.member?.getSender();
    assertEqual(inviter, aliceId, "invite sender");
    await withTimeout("joinRoom", bob.joinRoom(roomId));
    await waitFor("bob's sync to show him joined", () => bob.getRoom(roomId)?.getMyMembership() === "join", {
      on: [[bob, sdk.RoomEvent.MyMembership]],
    });
    await waitFor("alice's sync to show bob joined", () => alice.getRoom(roomId)?.getMember(bobId)?.membership === "join", {
      on: [[alice, sdk.RoomStateEvent.Members]],
    });
    assertEqual(bob.getRoom(roomId).name, "jssdk test room", "room name as bob sees it");
  });

  const prefix = `msg-${suffix}-`;
  const want = Array.from({ length: MESSAGES }, (_, i) => `${prefix}${String(i).padStart(3, "0")}`);
  // What each client's sync delivered to the live timeline, in arrival order.
  const arrived = new Map();
  for (const [name, client] of [["alice", alice], ["bob", bob]]) {
    const seen = [];
    arrived.set(name, seen);
    const ids = new Set();
    const record = (ev) => {
      const body = ev.getContent().body;
      if (ids.has(ev.getId())) return;
      ids.add(ev.getId());
      if (ev.getRoomId() === roomId && ev.getType() === "m.room.message" && typeof body === "string" && body.startsWith(prefix)) {
        seen.push(body);
      }
    };
    // Another user's event enters the live timeline from /sync; one's own
    // event was a local echo (status "sending", then "sent") until /sync
    // delivered its remote echo, which sets the status to null.
    client.on(sdk.RoomEvent.Timeline, (ev, room, toStart, removed, data) => {
      if (toStart || removed || !data?.liveEvent || ev.status !== null) return;
      record(ev);
    });
    client.on(sdk.RoomEvent.LocalEchoUpdated, (ev, room, oldEventId, oldStatus) => {
      if (oldStatus !== null && ev.status === null) record(ev);
    });
  }

  const sentIds = [];
  await step(`alice and bob exchange ${MESSAGES} messages, seen in order through /sync`, async () => {
    for (let i = 0; i < MESSAGES; i++) {
      const sender = i % 2 === 0 ? alice : bob;
      const res = await withTimeout(`send message ${i}`, sender.sendTextMessage(roomId, want[i]));
      assert(res.event_id && res.event_id.startsWith("$"), `send ${i}: ${JSON.stringify(res)}`);
      sentIds.push(res.event_id);
    }
    assertEqual(new Set(sentIds).size, MESSAGES, "distinct event IDs");
    for (const [name, client] of [["alice", alice], ["bob", bob]]) {
      const seen = arrived.get(name);
      const check = () => seen.length >= MESSAGES;
      check.describe = () => `${name} has ${seen.length} of ${MESSAGES}`;
      await waitFor(`${name}'s sync to deliver all ${MESSAGES} messages`, check, {
        on: [[client, sdk.RoomEvent.Timeline], [client, sdk.RoomEvent.LocalEchoUpdated]],
      });
      assertEqual(seen, want, `${name}'s messages in sync order`);
      const live = liveBodies(client, roomId, prefix);
      // A limited sync may start a fresh live timeline; what it holds must
      // still be the tail of the conversation, in order.
      assertEqual(live, want.slice(MESSAGES - live.length), `${name}'s live timeline`);
      const room = client.getRoom(roomId);
      const ids = room.getLiveTimeline().getEvents().filter((e) => e.getContent().body?.startsWith?.(prefix)).map((e) => e.getId());
      assertEqual(ids, sentIds.slice(MESSAGES - ids.length), `${name}'s live timeline event IDs`);
      assertEqual(room.getPendingEvents().length, 0, `${name}'s pending events`);
    }
  });

  await step("/messages pages back and forward through all messages in order", async () => {
    const ours = (ev) => ev.type === "m.room.message" && String(ev.content?.body ?? "").startsWith(prefix);
    // walk pages from a token in one direction until the server says there
    // is no more; returns the test's messages and the last end token.
    const walk = async (name, client, from, limit, dir) => {
      const got = [];
      let last = null;
      for (let page = 0; page < 100; page++) {
        const res = await withTimeout(`${name} /messages dir=${dir}`, client.createMessagesRequest(roomId, from, limit, dir));
        assert(Array.isArray(res.chunk), `${name} /messages chunk: ${JSON.stringify(res)}`);
        assert(typeof res.start === "string", `${name} /messages start token: ${JSON.stringify(res.start)}`);
        got.push(...res.chunk.filter(ours));
        if (!res.end || res.chunk.length === 0) return { got, last };
        assert(res.end !== from, `${name} /messages dir=${dir} returned end == from (${from})`);
        from = last = res.end;
      }
      throw new TestFailure(`${name} /messages dir=${dir} did not end after 100 pages`);
    };
    for (const [name, client] of [["alice", alice], ["bob", bob]]) {
      // Backwards from the present, 17 at a time, to the room's creation.
      const back = await walk(name, client, null, 17, sdk.Direction.Backward);
      assertEqual(back.got.map((e) => e.content.body), [...want].reverse(), `${name}'s /messages dir=b bodies`);
      assertEqual(back.got.map((e) => e.event_id), [...sentIds].reverse(), `${name}'s /messages dir=b event IDs`);
      back.got.forEach((ev, i) => {
        const wantSender = (MESSAGES - 1 - i) % 2 === 0 ? aliceId : bobId;
        assertEqual(ev.sender, wantSender, `${name}'s /messages sender of ${ev.content.body}`);
      });
      // Then forwards, 23 at a time, from the oldest token the walk reached.
      assert(back.last, `${name}: /messages dir=b never returned an end token`);
      const fwd = await walk(name, client, back.last, 23, sdk.Direction.Forward);
      assertEqual(fwd.got.map((e) => e.content.body), want, `${name}'s /messages dir=f bodies`);
      assertEqual(fwd.got.map((e) => e.event_id), sentIds, `${name}'s /messages dir=f event IDs`);
    }
  });

  await step("alice types and bob sees it", async () => {
    await withTimeout("sendTyping", alice.sendTyping(roomId, true, 15_000));
    await waitFor("bob to see alice typing", () => bob.getRoom(roomId)?.getMember(aliceId)?.typing === true, {
      on: [[bob, sdk.RoomMemberEvent.Typing]],
    });
    await withTimeout("sendTyping false", alice.sendTyping(roomId, false, 0));
    await waitFor("bob to see alice stop typing", () => bob.getRoom(roomId)?.getMember(aliceId)?.typing === false, {
      on: [[bob, sdk.RoomMemberEvent.Typing]],
    });
  });

  await step("bob has 2 unread; his read receipt reaches alice and clears them", async () => {
    const total = sdk.NotificationCountType.Total;
    // bob's own last message marked the room read for him; two more from
    // alice notify (one-to-one room rule).
    const extra = [];
    for (let i = 0; i < 2; i++) {
      const res = await withTimeout("send unread", alice.sendTextMessage(roomId, `unread ${i} ${suffix}`));
      extra.push(res.event_id);
    }
    let last;
    const counted = () => {
      last = bob.getRoom(roomId)?.findEventById(extra[1]);
      return last && bob.getRoom(roomId).getUnreadNotificationCount(total) === 2;
    };
    counted.describe = () => `bob has event ${!!last}, unread count ${bob.getRoom(roomId)?.getUnreadNotificationCount(total)}`;
    await waitFor("bob's sync to bring alice's 2 messages with an unread count of 2", counted, {
      on: [[bob, sdk.RoomEvent.Timeline], [bob, sdk.RoomEvent.UnreadNotifications]],
    });
    const server = await serverUnread(bobReg.access_token, roomId);
    assertEqual(server?.notification_count, 2, `bob's unread_notifications from the server ${JSON.stringify(server)}`);
    await withTimeout("sendReadReceipt", bob.sendReadReceipt(last, sdk.ReceiptType.Read));
    const check = () => alice.getRoom(roomId)?.getReadReceiptForUserId(bobId, true)?.eventId === last.getId();
    check.describe = () => `alice sees bob's receipt at ${JSON.stringify(alice.getRoom(roomId)?.getReadReceiptForUserId(bobId, true))}`;
    await waitFor("alice to see bob's read receipt", check, { on: [[alice, sdk.RoomEvent.Receipt]] });
    const receipt = alice.getRoom(roomId).getReadReceiptForUserId(bobId, true);
    assert(receipt.data?.ts > 0, `receipt ts: ${JSON.stringify(receipt)}`);
    const unread = () => bob.getRoom(roomId).getUnreadNotificationCount(total) === 0;
    unread.describe = () => `bob's unread count is ${bob.getRoom(roomId).getUnreadNotificationCount(total)}`;
    await waitFor("bob's sync to report no unread notifications", unread, { on: [[bob, sdk.RoomEvent.UnreadNotifications]] });
    await eventually("the server to count no unread notifications for bob", async () => {
      const u = await serverUnread(bobReg.access_token, roomId);
      return { ok: u?.notification_count === 0, unread_notifications: u };
    });
  });

  await step("bob moves his fully-read marker and his sync carries it", async () => {
    const marker = sentIds[MESSAGES - 1];
    await withTimeout("setRoomReadMarkers", bob.setRoomReadMarkers(roomId, marker));
    const check = () => bob.getRoom(roomId)?.getAccountData("m.fully_read")?.getContent().event_id === marker;
    check.describe = () => `bob's m.fully_read is ${JSON.stringify(bob.getRoom(roomId)?.getAccountData("m.fully_read")?.getContent())}`;
    await waitFor("bob's sync to carry his m.fully_read marker", check, { on: [[bob, sdk.RoomEvent.AccountData]] });
  });

  await step("alice enables megolm encryption in the room", async () => {
    const aliceCrypto = alice.getCrypto();
    const bobCrypto = bob.getCrypto();
    assert(aliceCrypto && bobCrypto, "getCrypto() returned nothing after initRustCrypto");
    await withTimeout(
      "send m.room.encryption",
      alice.sendStateEvent(roomId, "m.room.encryption", { algorithm: "m.megolm.v1.aes-sha2" }, ""),
    );
    for (const [name, client] of [["alice", alice], ["bob", bob]]) {
      await waitFor(`${name} to see the room encrypted`, () => client.getRoom(roomId)?.hasEncryptionStateEvent(), {
        on: [[client, sdk.RoomStateEvent.Events]],
      });
      const enabled = await client.getCrypto().isEncryptionEnabledInRoom(roomId);
      assert(enabled, `${name}: isEncryptionEnabledInRoom is false`);
    }
    // Each sees the other's device, from /keys/query.
    for (const [name, client, other, otherReg] of [["alice", alice, bobId, bobReg], ["bob", bob, aliceId, aliceReg]]) {
      const devices = await withTimeout(`${name} getUserDeviceInfo`, client.getCrypto().getUserDeviceInfo([other], true));
      const dev = devices.get(other)?.get(otherReg.device_id);
      assert(dev, `${name} does not know ${other}'s device ${otherReg.device_id}: ${JSON.stringify([...(devices.get(other)?.keys() ?? [])])}`);
      assert(dev.getIdentityKey() && dev.getFingerprint(), `${name}: ${other}'s device has no keys`);
    }
  });

  // sendAndDecrypt sends an encrypted message and waits for the receiver to
  // decrypt it to the plaintext.
  async function sendAndDecrypt(from, to, fromName, toName, body) {
    const res = await withTimeout(`${fromName} sends encrypted`, from.sendTextMessage(roomId, body));
    const eventId = res.event_id;
    assert(eventId?.startsWith("$"), `${fromName} send: ${JSON.stringify(res)}`);
    // On the wire the server holds only ciphertext.
    const raw = await withTimeout("fetch raw event", from.fetchRoomEvent(roomId, eventId));
    assertEqual(raw.type, "m.room.encrypted", "wire type of the encrypted message");
    assertEqual(raw.content.algorithm, "m.megolm.v1.aes-sha2", "wire algorithm");
    assert(!JSON.stringify(raw).includes(body), "the plaintext is visible in the server's copy");
    let ev;
    const check = () => {
      ev = to.getRoom(roomId)?.findEventById(eventId);
      if (!ev) return false;
      if (ev.isDecryptionFailure()) {
        // The room key may still be on its way; the SDK retries when it comes.
        return false;
      }
      return !ev.isBeingDecrypted() && ev.getType() === "m.room.message";
    };
    check.describe = () =>
      ev
        ? `event ${eventId}: type ${ev.getType()}, wire ${ev.getWireType()}, decryption failure ${ev.isDecryptionFailure()} ${ev.decryptionFailureReason ?? ""} ${JSON.stringify(ev.getContent())}`
        : `${toName} has not received ${eventId}`;
    await waitFor(`${toName} to decrypt ${fromName}'s message`, check, {
      on: [[to, sdk.MatrixEventEvent.Decrypted], [to, sdk.RoomEvent.Timeline]],
    });
    assert(ev.isEncrypted(), `${toName}: event is not marked encrypted`);
    assertEqual(ev.getWireType(), "m.room.encrypted", `${toName}: wire type`);
    assertEqual(ev.getContent().body, body, `${toName}: decrypted body`);
    assertEqual(ev.getSender(), from.getUserId(), `${toName}: sender`);
    const info = await to.getCrypto().getEncryptionInfoForEvent(ev);
    assert(info, `${toName}: no encryption info for ${eventId}`);
    return eventId;
  }

  await step("alice sends encrypted messages that bob decrypts", async () => {
    for (let i = 0; i < 3; i++) {
      await sendAndDecrypt(alice, bob, "alice", "bob", `secret from alice ${i} ${suffix}`);
    }
  });

  await step("bob replies encrypted and alice decrypts", async () => {
    for (let i = 0; i < 3; i++) {
      await sendAndDecrypt(bob, alice, "bob", "alice", `secret from bob ${i} ${suffix}`);
    }
  });

  await step("bob logs in a second device that reads the history and decrypts new messages", async () => {
    const anon = sdk.createClient({ baseUrl });
    const login = await withTimeout(
      "login",
      anon.loginRequest({
        type: "m.login.password",
        identifier: { type: "m.id.user", user: bobId },
        password,
        initial_device_display_name: "jssdk bob 2",
      }),
    );
    assertEqual(login.user_id, bobId, "login user_id");
    assert(login.device_id && login.device_id !== bobReg.device_id, `login device_id ${login.device_id}`);
    const bob2 = await startClient(login);
    const room = await waitFor("bob's second device to see the room", () => bob2.getRoom(roomId), {
      on: [[bob2, sdk.ClientEvent.Room]],
    });
    assertEqual(room.getMyMembership(), "join", "bob2 membership");
    // The initial sync's timeline is the newest events; scrollback (the
    // timeline's prev_batch and /messages) brings the rest.
    for (let i = 0; i < 20 && !liveBodies(bob2, roomId, prefix).includes(want[0]); i++) {
      await withTimeout("scrollback", bob2.scrollback(room, 30));
    }
    assertEqual(liveBodies(bob2, roomId, prefix), want, "bob2's timeline after scrollback");
    // alice learns of the new device from device_lists in her /sync and
    // shares the room key with it.
    const check = async () => {
      const devices = await alice.getCrypto().getUserDeviceInfo([bobId]);
      return devices.get(bobId)?.has(login.device_id);
    };
    const deadline = Date.now() + WAIT_MS;
    while (!(await check())) {
      if (Date.now() > deadline) throw new TestFailure(`alice never learned of bob's device ${login.device_id}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const body = `secret for both of bob's devices ${suffix}`;
    const eventId = await sendAndDecrypt(alice, bob2, "alice", "bob2", body);
    // bob's first device decrypts it too.
    await waitFor("bob's first device to decrypt the same message", () => bob.getRoom(roomId).findEventById(eventId)?.getContent().body === body, {
      on: [[bob, sdk.MatrixEventEvent.Decrypted], [bob, sdk.RoomEvent.Timeline]],
    });
  });
}

let exitCode = 0;
try {
  await main();
} catch (e) {
  exitCode = 1;
  if (!(e instanceof TestFailure) && failed === 0) {
    failed++;
    log(`FAIL: ${e && e.stack ? e.stack : e}`);
  }
} finally {
  for (const c of clients) {
    try {
      c.stopClient();
    } catch (_) {}
  }
}
if (failed > 0) exitCode = 1;
out(`jssdk: ${passed} passed, ${failed} failed`);
process.exit(exitCode);
