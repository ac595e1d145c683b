// Package notify wakes the requests that wait for news of a user, such as a
// long-polling /sync, when something that user can see has changed.
//
// Writers call Wake with the users a change concerns after the change is
// durable; waiters take a channel from Waiter before checking for news, so a
// change between the check and the wait is never missed.
package notify

import "sync"

// Notifier tracks one channel per waiting user. It is safe for concurrent
// use. The zero value is not usable; call New.
type Notifier struct {
	mu    sync.Mutex
	users map[string]chan struct{}
	all   chan struct{}
}

// New returns an empty Notifier.
func New() *Notifier {
	return &Notifier{users: make(map[string]chan struct{}), all: make(chan struct{})}
}

// Waiter returns two channels that are closed at the next Wake naming user
// or at the next WakeAll. Take it before looking for changes, then wait.
func (n *Notifier) Waiter(user string) (mine, everyone <-chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	ch, ok := n.users[user]
	if !ok {
		ch = make(chan struct{})
		n.users[user] = ch
	}
	return ch, n.all
}

// Wake wakes every request waiting for any of users.
func (n *Notifier) Wake(users ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, u := range users {
		if ch, ok := n.users[u]; ok {
			close(ch)
			delete(n.users, u)
		}
	}
}

// WakeAll wakes every waiting request, for changes that concern everyone,
// such as shutdown.
func (n *Notifier) WakeAll() {
	n.mu.Lock()
	defer n.mu.Unlock()
	close(n.all)
	n.all = make(chan struct{})
	for u, ch := range n.users {
		close(ch)
		delete(n.users, u)
	}
}
