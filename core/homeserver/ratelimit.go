package homeserver

import (
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"hearth/core/matrixerr"
)

// maxLimiterClients bounds the clients the limiter tracks; past it, clients
// whose buckets have refilled are forgotten.
const maxLimiterClients = 10000

// limiter is a token bucket per client.
type limiter struct {
	rate  float64 // tokens per second
	burst float64

	mu      sync.Mutex
	buckets map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate, burst float64) *limiter {
	return &limiter{rate: rate, burst: math.Max(burst, 1), buckets: map[string]*bucket{}}
}

// allow takes a token from key's bucket at now. When the bucket is empty it
// returns false and how long until a token is available.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxLimiterClients {
			l.forgetIdle(now)
		}
		b = &bucket{tokens: l.burst, last: now}
		l.buckets[key] = b
	}
	if elapsed := now.Sub(b.last).Seconds(); elapsed > 0 {
		b.tokens = math.Min(l.burst, b.tokens+elapsed*l.rate)
		b.last = now
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, wait
}

// forgetIdle drops the buckets that would be full by now.
func (l *limiter) forgetIdle(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
}

// clientKey names the client of a request for rate limiting: its network
// address. Access tokens are not used while nothing checks them, since any
// made-up token would get a fresh bucket; limits per user come with them.
func clientKey(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// rateLimit answers 429 M_LIMIT_EXCEEDED to clients over the rate limit.
// /health is never limited.
func (s *Server) rateLimit(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health" {
			if ok, wait := s.limiter.allow(clientKey(r), s.cfg.Now()); !ok {
				e := matrixerr.New(http.StatusTooManyRequests, matrixerr.CodeLimitExceeded, "too many requests")
				e.RetryAfterMS = max(wait.Milliseconds(), 1)
				w.Header().Set("Retry-After", strconv.FormatInt(max(int64(math.Ceil(wait.Seconds())), 1), 10))
				matrixerr.Write(w, e)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
