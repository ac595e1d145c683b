package e2ee

import "hearth/core/syncer"

// The streams are the sync engine's sources.
var (
	_ syncer.ToDevice   = (*ToDevice)(nil)
	_ syncer.DeviceKeys = (*DeviceKeys)(nil)
)
