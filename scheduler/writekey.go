package scheduler

import "hash/maphash"

// writeSeed keys the hashes of writeKeys; they live only in memory, so a
// seed per process is enough.
var writeSeed = maphash.MakeSeed()

// sum is what an entry keeps of its writeKey: 8 bytes instead of the
// key's 208, which at 60,000 checks moved every entry down a size class
// (896 to 640 bytes, 15 MiB of live heap). Two different keys with the
// same sum (a chance of 2⁻⁶⁴ per attempt) would only delay the record's
// rewrite until RecordRefresh; the history entry is written regardless.
func (k writeKey) sum() uint64 { return maphash.Comparable(writeSeed, k) }
