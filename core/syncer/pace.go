package syncer

import (
	"sync"
	"time"
)

// pacer remembers when each device last got a sync answer, for
// Config.Pace. It forgets answers older than the pace, so it holds at most
// the devices answered in the last Pace.
type pacer struct {
	mu   sync.Mutex
	last map[deviceKey]time.Time
	// prune is the size of last at which answered next drops old answers.
	prune int
}

type deviceKey struct{ user, device string }

// wait returns how long a sync of the device starting at now must wait to
// begin at least pace after the device's previous answer.
func (p *pacer) wait(user, device string, now time.Time, pace time.Duration) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	at, ok := p.last[deviceKey{user, device}]
	if !ok {
		return 0
	}
	return pace - now.Sub(at)
}

// answered records an answer to the device at now.
func (p *pacer) answered(user, device string, now time.Time, pace time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		p.last = make(map[deviceKey]time.Time)
	}
	if len(p.last) >= p.prune {
		for k, at := range p.last {
			if now.Sub(at) >= pace {
				delete(p.last, k)
			}
		}
		p.prune = max(256, 2*len(p.last))
	}
	p.last[deviceKey{user, device}] = now
}
