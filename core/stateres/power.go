package stateres

import (
	"hearth/core/auth"
	"hearth/core/event"
)

// levels is the power levels that a power levels event and a create event
// give; a nil pl means that no valid power levels could be read, and every
// user then has level 0.
type levels struct {
	pl *auth.PowerLevels
}

// userLevel returns the power level of userID.
func (l levels) userLevel(userID string) int64 {
	if l.pl == nil {
		return 0
	}
	return l.pl.UserLevel(userID)
}

// levelsFor returns the power levels given by the power levels event plID
// and the create event createID, either of which may be "", parsing each
// pair once per call.
func (r *resolver) levelsFor(plID, createID string) (levels, error) {
	key := plID + "\x00" + createID
	if l, ok := r.levels[key]; ok {
		return l, nil
	}
	var l levels
	pl, err := r.pdu(plID)
	if err != nil {
		return l, err
	}
	create, err := r.pdu(createID)
	if err != nil {
		return l, err
	}
	if pl != nil || create != nil {
		// Power levels that do not parse come from an event that the
		// auth rules reject; its sender's events get no power from it.
		if p, err := auth.ParsePowerLevels(pl, create); err == nil {
			l.pl = p
		}
	}
	r.levels[key] = l
	return l, nil
}

// pdu loads the event id, or returns nil for "".
func (r *resolver) pdu(id string) (*event.PDU, error) {
	if id == "" {
		return nil, nil
	}
	n, err := r.load(id)
	if err != nil {
		return nil, err
	}
	return n.pdu, nil
}
