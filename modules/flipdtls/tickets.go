package flipdtls

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/flipd/flipd"
)

// Session ticket defaults.
const (
	DefaultTicketRotation = 12 * time.Hour
	DefaultTicketKeys     = 4
)

// ticketHandoverKey names the session ticket keys in the state handed to
// the next generation.
const ticketHandoverKey = "listener_wrappers.tls.session_ticket_keys"

// SessionTickets configures TLS session resumption by session tickets.
// The keys that encrypt tickets are made once (32 random bytes each),
// kept in memory only, shared by every tls wrapper of a process, and
// handed to each new generation with the sockets: a client resumes its
// session across upgrades.
type SessionTickets struct {
	// Disabled turns session tickets off: every connection makes a
	// full handshake.
	Disabled bool `json:"disabled,omitempty"`
	// RotateEvery is how often a new key starts encrypting tickets;
	// older keys still decrypt. The schedule carries across upgrades.
	// With several tls wrappers, the shortest applies. Default 12h.
	RotateEvery flipd.Duration `json:"rotate_every,omitzero"`
	// Keep is how many keys decrypt tickets, the newest included, so a
	// ticket resumes for at least (keep-1) × rotate_every. Default 4.
	Keep int `json:"keep,omitempty"`
}

func (st SessionTickets) check() error {
	if st.RotateEvery < 0 || (st.RotateEvery > 0 && time.Duration(st.RotateEvery) < time.Second) {
		return fmt.Errorf("rotate_every: %s is shorter than a second", time.Duration(st.RotateEvery))
	}
	if st.Keep < 0 || st.Keep > 32 {
		return fmt.Errorf("keep: %d is not between 1 and 32", st.Keep)
	}
	return nil
}

// processTickets is the key ring of this process.
var processTickets = new(ticketRing)

// ticketRing holds the session ticket keys, newest first.
type ticketRing struct {
	mu      sync.Mutex
	keys    []ticketKey
	version uint64 // bumped at each change
}

type ticketKey struct {
	Key     []byte    `json:"key"`
	Created time.Time `json:"created"`
}

// ticketState is the handover format; versioned, since the next
// generation may be a different build.
type ticketState struct {
	Version int         `json:"version"`
	Keys    []ticketKey `json:"keys"`
}

const ticketStateVersion = 1

// adopt takes the keys handed over by the previous generation, unless
// this process has keys already.
func (r *ticketRing) adopt(raw []byte) error {
	if raw == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.keys) > 0 {
		return nil
	}
	var st ticketState
	if err := json.Unmarshal(raw, &st); err != nil {
		return err
	}
	if st.Version != ticketStateVersion {
		return fmt.Errorf("version %d, this build reads %d", st.Version, ticketStateVersion)
	}
	for _, k := range st.Keys {
		if len(k.Key) != 32 {
			return errors.New("a key is not 32 bytes")
		}
	}
	r.keys = st.Keys
	r.version++
	return nil
}

// marshal is what the next generation gets.
func (r *ticketRing) marshal() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, _ := json.Marshal(ticketState{Version: ticketStateVersion, Keys: r.keys})
	return b
}

// rotate adds a key if there is none or the newest is older than every,
// drops all but keep, and returns the keys and their version.
func (r *ticketRing) rotate(now time.Time, every time.Duration, keep int) ([][32]byte, uint64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.keys) == 0 || now.Sub(r.keys[0].Created) >= every {
		k := ticketKey{Key: make([]byte, 32), Created: now}
		if _, err := rand.Read(k.Key); err != nil {
			return nil, 0, err
		}
		r.keys = append([]ticketKey{k}, r.keys...)
		r.version++
	}
	if len(r.keys) > keep {
		r.keys = r.keys[:keep]
		r.version++
	}
	out := make([][32]byte, len(r.keys))
	for i, k := range r.keys {
		copy(out[i][:], k.Key)
	}
	return out, r.version, nil
}

// ticketRotation keeps one tls.Config's keys in step with the ring.
type ticketRotation struct {
	ring  *ticketRing
	every time.Duration
	keep  int
	log   hclog.Logger

	cfg      *tls.Config
	version  uint64
	stopc    chan struct{}
	done     chan struct{}
	started  atomic.Bool
	stopOnce sync.Once
}

// provisionTickets adopts the keys handed over, if any, and registers
// the keys for the next generation. It returns nil if tickets are off.
func (w *Wrapper) provisionTickets(ctx flipd.Context, ring *ticketRing) *ticketRotation {
	st := w.SessionTickets
	if st.Disabled {
		return nil
	}
	if err := ring.adopt(ctx.Inherited(ticketHandoverKey)); err != nil {
		w.log.Warn("the session ticket keys handed over are unusable; sessions will not resume across this upgrade", "error", err)
	}
	ctx.Handover(ticketHandoverKey, ring.marshal)
	keep := st.Keep
	if keep == 0 {
		keep = DefaultTicketKeys
	}
	return &ticketRotation{ring: ring, every: st.RotateEvery.Or(DefaultTicketRotation), keep: keep, log: w.log,
		stopc: make(chan struct{}), done: make(chan struct{})}
}

// apply sets cfg's keys, or turns tickets off if t is nil.
func (t *ticketRotation) apply(cfg *tls.Config) error {
	if t == nil {
		cfg.SessionTicketsDisabled = true
		return nil
	}
	t.cfg = cfg
	return t.update()
}

func (t *ticketRotation) update() error {
	keys, version, err := t.ring.rotate(time.Now(), t.every, t.keep)
	if err != nil {
		return fmt.Errorf("session ticket keys: %w", err)
	}
	if version != t.version {
		t.cfg.SetSessionTicketKeys(keys)
		t.version = version
	}
	return nil
}

// start rotates the keys on schedule until stop.
func (t *ticketRotation) start() {
	if t == nil || t.started.Swap(true) {
		return
	}
	period := min(max(t.every/4, 10*time.Millisecond), time.Minute)
	go func() {
		defer close(t.done)
		tick := time.NewTicker(period)
		defer tick.Stop()
		for {
			select {
			case <-tick.C:
				if err := t.update(); err != nil {
					t.log.Error("rotating session ticket keys", "error", err)
				}
			case <-t.stopc:
				return
			}
		}
	}()
}

// stop ends the rotation started by start, if any.
func (t *ticketRotation) stop() {
	if t == nil {
		return
	}
	t.stopOnce.Do(func() { close(t.stopc) })
	if t.started.Load() {
		<-t.done
	}
}
