package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	"github.com/exoprobe/exoprobe/diagnose"
	"github.com/exoprobe/exoprobe/probe"
	"github.com/exoprobe/exoprobe/scheduler"
)

// History entries are stored in a compact binary form: the attempt's time
// is the key (8 bytes, Unix nanoseconds), and the value is
//
//	0x01 | flags | duration (uvarint ns) | cause | confidence | stage | reply
//
// with each string as a uvarint length and its bytes. An ok attempt takes
// about 30 bytes against about 110 in JSON. Stores written by earlier
// versions hold JSON values ('{' first) and 16-byte keys (time and a
// sequence number); both are still read.
const histV1 = 0x01

const (
	flagOK = 1 << iota
	flagConfirm
)

func encodeHistory(buf []byte, h *scheduler.HistoryEntry) []byte {
	var flags byte
	if h.OK {
		flags |= flagOK
	}
	if h.Confirm {
		flags |= flagConfirm
	}
	buf = append(buf[:0], histV1, flags)
	buf = binary.AppendUvarint(buf, uint64(max(h.Duration, 0)))
	for _, s := range []string{string(h.Cause), string(h.Confidence), string(h.Stage), h.Reply} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	return buf
}

var errCorrupt = errors.New("corrupt history entry")

func decodeHistory(k, v []byte) (scheduler.HistoryEntry, error) {
	var h scheduler.HistoryEntry
	if len(v) > 0 && v[0] == '{' {
		err := json.Unmarshal(v, &h)
		return h, err
	}
	if len(k) < 8 || len(v) < 2 || v[0] != histV1 {
		return h, errCorrupt
	}
	h.Time = time.Unix(0, int64(binary.BigEndian.Uint64(k))).UTC()
	h.OK, h.Confirm = v[1]&flagOK != 0, v[1]&flagConfirm != 0
	v = v[2:]
	d, n := binary.Uvarint(v)
	if n <= 0 {
		return h, errCorrupt
	}
	h.Duration = time.Duration(d)
	v = v[n:]
	var strs [4]string
	for i := range strs {
		l, n := binary.Uvarint(v)
		if n <= 0 || uint64(len(v)-n) < l {
			return h, errCorrupt
		}
		strs[i] = string(v[n : n+int(l)])
		v = v[n+int(l):]
	}
	h.Cause, h.Confidence, h.Stage, h.Reply = diagnose.Cause(strs[0]), diagnose.Confidence(strs[1]), probe.Stage(strs[2]), strs[3]
	return h, nil
}
