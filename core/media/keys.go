package media

import (
	"encoding/binary"
	"strconv"
)

// Key prefixes; the package comment describes the layout.
const (
	prefixMeta    = "media/m/"
	prefixChunk   = "media/b/"
	prefixWrite   = "media/w/"
	prefixImage   = "media/i/"
	prefixThumb   = "media/t/"
	prefixPending = "media/p/"
	prefixUser    = "media/u/"
)

func metaKey(serverName, mediaID string) []byte {
	return []byte(prefixMeta + serverName + "/" + mediaID)
}

func chunkPrefix(blobID string) []byte {
	return []byte(prefixChunk + blobID + "/")
}

func chunkKey(blobID string, index uint32) []byte {
	return binary.BigEndian.AppendUint32(chunkPrefix(blobID), index)
}

func writeMarkerKey(blobID string) []byte {
	return []byte(prefixWrite + blobID)
}

func imageKey(serverName, mediaID string) []byte {
	return []byte(prefixImage + serverName + "/" + mediaID)
}

func thumbPrefix(serverName, mediaID string) []byte {
	return []byte(prefixThumb + serverName + "/" + mediaID + "/")
}

func thumbKey(serverName, mediaID string, method Method, width, height int) []byte {
	k := thumbPrefix(serverName, mediaID)
	k = append(k, method...)
	k = append(k, '/')
	k = strconv.AppendInt(k, int64(width), 10)
	k = append(k, 'x')
	return strconv.AppendInt(k, int64(height), 10)
}

func pendingKey(mediaID string) []byte {
	return []byte(prefixPending + mediaID)
}

func userPrefix(userID string) []byte {
	return []byte(prefixUser + userID + "\x00")
}

func userPendingKey(userID, mediaID string) []byte {
	return append(userPrefix(userID), mediaID...)
}
