#!/usr/bin/python3
"""End-to-end check of hearth's client-server API with matrix-nio.

Usage: /usr/bin/python3 tests/nio/nio_test.py BASE_URL

Needs Debian's python3-matrix-nio. Two users register, one logs out and in
again, alice creates a room, bob joins, they exchange messages that both see
through /sync in the order they were sent, read them back through /messages,
and log out. Exits non-zero with a message on the first failure.
"""

import asyncio
import sys
import time

try:
    import nio
    import nio.responses
except ImportError as exc:  # the Go wrapper turns this into its message
    print(f"nio_test: cannot import nio ({exc}): apt-get install python3-matrix-nio", file=sys.stderr)
    sys.exit(3)

PASSWORD = "nio test password"
DEADLINE = 20  # seconds for the whole run

checks = 0


def check(cond, what):
    global checks
    if not cond:
        raise AssertionError(what)
    checks += 1


open_clients = []


def client(base, user=""):
    cfg = nio.AsyncClientConfig(encryption_enabled=False, store_sync_tokens=False)
    c = nio.AsyncClient(base, user, config=cfg)
    open_clients.append(c)
    return c


async def run(base):
    try:
        await main(base)
    finally:
        for c in open_clients:
            await c.close()


async def register(base, name):
    c = client(base)
    r = await c.register(name, PASSWORD, f"nio {name}")
    check(isinstance(r, nio.responses.RegisterResponse), f"register {name}: {r}")
    check(r.user_id.startswith(f"@{name}:") and r.access_token and r.device_id,
          f"register {name} answered {r}")
    check(c.user_id == r.user_id and c.access_token == r.access_token, f"nio kept {name}'s credentials")
    who = await c.whoami()
    check(isinstance(who, nio.responses.WhoamiResponse) and who.user_id == r.user_id, f"whoami {name}: {who}")
    return c


async def sync_until(c, room_id, want_bodies, start):
    """Sync c until the room's timeline has shown every body in want_bodies;
    returns the message bodies seen, in the order sync delivered them."""
    seen = []
    while time.monotonic() - start < DEADLINE:
        r = await c.sync(timeout=2000)
        check(isinstance(r, nio.responses.SyncResponse), f"{c.user_id} sync: {r}")
        room = r.rooms.join.get(room_id)
        if room is not None:
            for ev in room.timeline.events:
                if isinstance(ev, nio.RoomMessageText):
                    seen.append((ev.body, ev.sender, ev.event_id))
        if set(want_bodies) <= {b for b, _, _ in seen}:
            return seen
    raise AssertionError(f"{c.user_id} did not see {want_bodies} in time; saw {seen}")


async def main(base):
    start = time.monotonic()
    alice = await register(base, "alice")
    bob = await register(base, "bob")

    # Taken names and wrong passwords fail with the spec's codes.
    dup = client(base)
    r = await dup.register("alice", PASSWORD)
    check(isinstance(r, nio.responses.RegisterErrorResponse) and r.status_code == "M_USER_IN_USE",
          f"registering alice twice: {r}")
    await dup.close()
    wrong = client(base, "bob")
    r = await wrong.login("not the password")
    check(isinstance(r, nio.responses.LoginError) and r.status_code == "M_FORBIDDEN", f"wrong password: {r}")
    await wrong.close()

    # Bob logs out and back in with his password.
    old_token = bob.access_token
    r = await bob.logout()
    check(isinstance(r, nio.responses.LogoutResponse), f"bob logout: {r}")
    stale = client(base, bob.user_id)
    stale.access_token, stale.user_id = old_token, bob.user_id
    r = await stale.whoami()
    check(isinstance(r, nio.responses.WhoamiError) and r.status_code == "M_UNKNOWN_TOKEN", f"logged-out token: {r}")
    await stale.close()
    await bob.close()
    bob = client(base, "bob")
    r = await bob.login(PASSWORD, device_name="nio bob again")
    check(isinstance(r, nio.responses.LoginResponse), f"bob login: {r}")
    check(r.user_id.startswith("@bob:") and bob.access_token, f"bob login answered {r}")

    # Alice creates a room with a name and topic; bob joins it.
    r = await alice.room_create(name="nio room", topic="testing nio", preset=nio.RoomPreset.public_chat)
    check(isinstance(r, nio.responses.RoomCreateResponse), f"room_create: {r}")
    room_id = r.room_id
    r = await bob.join(room_id)
    check(isinstance(r, nio.responses.JoinResponse) and r.room_id == room_id, f"bob join: {r}")

    # Initial syncs: both see the room, its name and topic, and each other.
    for c in (alice, bob):
        r = await c.sync(timeout=0, full_state=True)
        check(isinstance(r, nio.responses.SyncResponse), f"{c.user_id} initial sync: {r}")
        check(room_id in c.rooms, f"{c.user_id} has no room {room_id} after sync")
        room = c.rooms[room_id]
        check(room.name == "nio room" and room.topic == "testing nio",
              f"{c.user_id} sees name {room.name!r} topic {room.topic!r}")
        check(alice.user_id in room.users and bob.user_id in room.users,
              f"{c.user_id} sees members {list(room.users)}")

    # Interleaved messages, each acknowledged before the next is sent.
    sent = []
    for i in range(6):
        sender = alice if i % 2 == 0 else bob
        body = f"nio message {i}"
        r = await sender.room_send(room_id, "m.room.message", {"msgtype": "m.text", "body": body})
        check(isinstance(r, nio.responses.RoomSendResponse) and r.event_id, f"send {i}: {r}")
        sent.append((body, sender.user_id, r.event_id))

    bodies = [b for b, _, _ in sent]
    for c in (alice, bob):
        seen = await sync_until(c, room_id, bodies, start)
        check(seen == sent, f"{c.user_id} synced {seen}, want {sent}")

    # Bob typing is seen by alice's sync.
    r = await bob.room_typing(room_id, True, timeout=10000)
    check(isinstance(r, nio.responses.RoomTypingResponse), f"typing: {r}")
    typing = False
    while not typing and time.monotonic() - start < DEADLINE:
        r = await alice.sync(timeout=2000)
        check(isinstance(r, nio.responses.SyncResponse), f"alice sync: {r}")
        room = r.rooms.join.get(room_id)
        if room is not None:
            typing = any(isinstance(e, nio.TypingNoticeEvent) and bob.user_id in e.users
                         for e in room.ephemeral)
    check(typing, "alice never saw bob typing")

    # History, newest first, holds the messages in reverse order.
    r = await bob.room_messages(room_id, start="", limit=20, direction=nio.MessageDirection.back)
    check(isinstance(r, nio.responses.RoomMessagesResponse), f"room_messages: {r}")
    history = [(e.body, e.sender, e.event_id) for e in r.chunk if isinstance(e, nio.RoomMessageText)]
    check(history == list(reversed(sent)), f"history {history}, want {list(reversed(sent))}")

    # A stranger's errors: unknown room, and no history for a non-member.
    r = await alice.join("!nosuchroom:" + alice.user_id.split(":", 1)[1])
    check(isinstance(r, nio.responses.JoinError) and r.status_code == "M_NOT_FOUND", f"joining an unknown room: {r}")

    for c in (alice, bob):
        r = await c.logout()
        check(isinstance(r, nio.responses.LogoutResponse), f"{c.user_id} logout: {r}")
        await c.close()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: nio_test.py BASE_URL", file=sys.stderr)
        sys.exit(2)
    try:
        asyncio.run(asyncio.wait_for(run(sys.argv[1]), DEADLINE + 5))
    except AssertionError as exc:
        print(f"nio_test: FAILED after {checks} checks: {exc}", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:  # a crash in nio or here is a failure too
        import traceback
        traceback.print_exc()
        print(f"nio_test: FAILED after {checks} checks: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(1)
    try:
        from importlib.metadata import version
        nio_version = version("matrix-nio")
    except Exception:  # the version is only informative
        nio_version = "unknown"
    print(f"nio_test: {checks} checks passed (matrix-nio {nio_version})")
