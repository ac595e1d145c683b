package crash_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// mountTmpfs mounts a tmpfs of size bytes on a new directory and unmounts it
// when the test ends. It needs root; anything else fails the test.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Fatalf("the disk-full test mounts a size-limited tmpfs and needs root (uid %d): mount -t tmpfs -o size=%s tmpfs %s: %v %s",
			os.Getuid(), size, dir, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
	return dir
}

func freeBytes(t *testing.T, dir string) int64 {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return int64(st.Bavail) * int64(st.Bsize)
}

// TestDiskFull runs hearth with its data on a 16 MiB tmpfs, mostly taken by
// a filler file, and sends until writes fail. The failures must be Matrix
// errors, the process must stay up, everything acknowledged must stay
// readable, and once the filler is gone writes must work again; after a
// SIGKILL and restart everything acknowledged must still be there.
func TestDiskFull(t *testing.T) {
	mnt := mountTmpfs(t, "16m")
	logDir := t.TempDir() // logs off the small filesystem
	dataDir := filepath.Join(mnt, "data")
	n := startNode(t, dataDir, logDir)
	alice := register(t, n.ClientURL, "alice")
	var created struct {
		RoomID string `json:"room_id"`
	}
	alice.must(t, "POST", "/createRoom", map[string]any{"preset": "private_chat", "name": "full"}).json(t, &created)
	roomID := created.RoomID

	// Leave 8 MiB free.
	filler := filepath.Join(mnt, "filler")
	if size := freeBytes(t, mnt) - 8<<20; size > 0 {
		if err := os.WriteFile(filler, make([]byte, size), 0o600); err != nil {
			t.Fatalf("write filler: %v", err)
		}
	}
	t.Logf("free after the filler: %d KiB", freeBytes(t, mnt)>>10)

	body := strings.Repeat("full disk ", 1600) // 16 KB
	var acked []ack
	send := func(seq int) (response, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		return alice.do(ctx, "PUT", fmt.Sprintf("/rooms/%s/send/m.room.message/full-%d", esc(roomID), seq),
			messageContent{Body: body, Seq: seq})
	}
	// checkFailure asserts that a refused write is a Matrix error.
	checkFailure := func(seq int, r response) {
		t.Helper()
		var merr struct {
			Errcode string `json:"errcode"`
			Error   string `json:"error"`
		}
		if err := json.Unmarshal(r.body, &merr); err != nil || merr.Errcode == "" || !strings.HasPrefix(merr.Errcode, "M_") {
			t.Fatalf("send %d on a full disk: %d %q is not a Matrix error", seq, r.status, r.body)
		}
		if r.status < 400 {
			t.Fatalf("send %d on a full disk: status %d with errcode %s", seq, r.status, merr.Errcode)
		}
	}
	seq := 0
	var failed response
	for {
		seq++
		if seq > 5000 {
			t.Fatalf("hearth acknowledged %d sends of 16 KB on a 16 MiB filesystem", seq-1)
		}
		r, err := send(seq)
		if err != nil {
			t.Fatalf("send %d as the disk fills: %v (hearth alive: %v)", seq, err, n.Alive())
		}
		if r.status == 200 {
			acked = append(acked, ack{seq: seq, eventID: eventID(t, r)})
			continue
		}
		checkFailure(seq, r)
		failed = r
		break
	}
	t.Logf("first refused write after %d acknowledged: %d %s; free %d KiB", len(acked), failed.status, failed.body, freeBytes(t, mnt)>>10)
	// More writes fail the same way; the process stays up.
	for i := 0; i < 3; i++ {
		seq++
		r, err := send(seq)
		if err != nil {
			t.Fatalf("send %d on a full disk: %v (hearth alive: %v)", seq, err, n.Alive())
		}
		if r.status == 200 {
			acked = append(acked, ack{seq: seq, eventID: eventID(t, r)})
			continue
		}
		checkFailure(seq, r)
	}
	if !n.Alive() {
		t.Fatal("hearth exited on a full disk")
	}
	checkAcked(t, alice, roomID, acked)

	// Free the space: writes work again, at worst after a restart.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	recovered := false
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		seq++
		r, err := send(seq)
		if err != nil {
			t.Fatalf("send %d after freeing space: %v (hearth alive: %v)", seq, err, n.Alive())
		}
		if r.status == 200 {
			acked = append(acked, ack{seq: seq, eventID: eventID(t, r)})
			recovered = true
			break
		}
		checkFailure(seq, r)
	}
	if !recovered {
		t.Log("hearth still refuses writes 10 s after space was freed; restarting it")
	}
	n.Kill()
	n = startNode(t, dataDir, logDir)
	alice.base = n.ClientURL
	checkAcked(t, alice, roomID, acked)
	seq++
	if r, err := send(seq); err != nil || r.status != 200 {
		t.Fatalf("send after restart: %v %d %s", err, r.status, r.body)
	}
}

// checkAcked asserts that every acknowledged send is readable by ID and in
// /messages, and that /sync works.
func checkAcked(t *testing.T, c *client, roomID string, acked []ack) {
	t.Helper()
	for _, a := range acked {
		r, err := c.do(context.Background(), "GET", "/rooms/"+esc(roomID)+"/event/"+esc(a.eventID), nil)
		if err != nil || r.status != 200 {
			t.Fatalf("acknowledged event %s (seq %d) unreadable: %v %d %.300s", a.eventID, a.seq, err, r.status, r.body)
		}
	}
	pos := map[string]bool{}
	for _, ev := range c.history(t, roomID) {
		pos[ev.EventID] = true
	}
	for _, a := range acked {
		if !pos[a.eventID] {
			t.Fatalf("/messages lacks acknowledged event %s (seq %d)", a.eventID, a.seq)
		}
	}
	c.must(t, "GET", "/sync?timeout=0", nil)
}
