package store

import (
	"bytes"
	"compress/flate"
	"encoding/json"
	"fmt"
	"io"
	"sync"
)

// Check records and details are stored compressed: a first byte valZ1,
// then the JSON deflated (RFC 1951) with dictZ1 as the preset dictionary.
// A record is a few hundred bytes of JSON whose keys repeat in every
// value, so plain deflate gains little on it; with a dictionary of those
// keys and of exoprobe's own vocabulary (stages, causes, kinds) both
// shrink to about a third: on the fleet benchmark's store (60,000 checks
// against bench/fakemail) records went from 531 to 181 bytes on average
// and details (with the transcript) from 1,589 to 553.
// At 60,000 checks that is most of the file, and most of the daemon's
// resident memory after its heap, since bbolt reads through a memory map:
// the pages a commit touches count in the process's RSS.
//
// Values written by earlier versions are JSON ('{' first) and are still
// read. dictZ1 must never change: stored values need it to be read. A
// better dictionary gets a new first byte.
const valZ1 = 0x02

// dictZ1 holds only the JSON shape of scheduler.Record and Detail and the
// project's fixed vocabulary, never text from any particular server, so
// that it helps every deployment alike. Deflate finds strings near the
// dictionary's end cheapest: the commonest come last.
const dictZ1 = `"evidence_ja":["` + `"remedy":{"summary":"","inspect":null,"fix":null,"caveats":null,"links":null}}` +
	`"limit":{"stage":"` + `"tls_version":"TLS 1.3"` + `"token":{"flow":"client_credentials","aud":"https://outlook.office365.com","tid":"","appid":"","upn":"","roles":["IMAP.AccessAsApp","POP.AccessAsApp","SMTP.SendAsApp"],"scp":"","exp":"` +
	`"problems":["` + `"tu":"` + `"candidate":{"ok":false,"cause":"","since":"","count":1},` +
	`basic_auth_retired auth_mechanism_unsupported smtp_auth_disabled_tenant smtp_auth_disabled_mailbox security_defaults conditional_access mfa_required ` +
	`bad_credentials account_locked account_disabled protocol_disabled oauth_token_invalid oauth_not_authorized token_request_failed ` +
	`tls_error network_error protocol_error secret_unreadable tls_mode_mismatch token_endpoint_unreachable login_disabled app_password_required throttled unknown ` +
	`"error_kind":"timeout","error_kind":"connect","error_kind":"tls","error_kind":"protocol","error_kind":"refused",` +
	`"capabilities":["IMAP4rev1","AUTH=PLAIN","AUTH=XOAUTH2","SASL-IR","STARTTLS","USER","SASL PLAIN XOAUTH2","AUTH LOGIN XOAUTH2","ENHANCEDSTATUSCODES"],` +
	`"transcript":["S: * OK ","C: a1 CAPABILITY","S: * CAPABILITY ","C: CAPA","S: +OK","C: EHLO exoprobe","S: 250-","S: 250 ","C: AUTH XOAUTH2 ****","C: AUTH LOGIN","C: ****","C: PASS ****","C: QUIT","C: a2 LOGOUT","S: -ERR ","NO AUTHENTICATE failed."]},` +
	`"f":{"cause":"ok","confidence":"definitive","protocol":"imap","mechanism":"xoauth2","evidence":["` +
	`"timings":[{"stage":"dns","duration":},{"stage":"connect","duration":},{"stage":"tls","duration":},{"stage":"greeting","duration":},{"stage":"capability","duration":},{"stage":"starttls","duration":},{"stage":"token","duration":},{"stage":"auth","duration":},{"stage":"logout","duration":}],` +
	`{"m":{"expect":"fail","status":"unverified","cause":"basic_auth_disabled","prev_cause":"","confidence":"inferred","since":"2026-","cf":1,"cs":1},` +
	`{"a":{"target":"","user":"","protocol":"pop","mechanism":"basic","server":"","start":"2026-","ok":false,"stage":"auth","reply":"","auth_reply":"","error":"","error_kind":"refused","auth_method":"AUTH LOGIN","duration":` +
	`{"m":{"expect":"ok","status":"ok","cause":"ok","confidence":"definitive","since":"2026-","cs":1},"a":{"target":"","user":"","protocol":"smtp","mechanism":"basic","server":"","start":"2026-","ok":true,"stage":"done","auth_method":"","duration":},"r":"2026-`

var (
	zwriters = sync.Pool{New: func() any {
		w, err := flate.NewWriterDict(nil, 2, []byte(dictZ1))
		if err != nil {
			panic(err) // only for an invalid level
		}
		return w
	}}
	zreaders = sync.Pool{New: func() any { return flate.NewReaderDict(bytes.NewReader(nil), []byte(dictZ1)) }}
)

// encodeValue is v in JSON, compressed.
func encodeValue(v any) ([]byte, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(len(raw)/2 + 16)
	buf.WriteByte(valZ1)
	w := zwriters.Get().(*flate.Writer)
	defer zwriters.Put(w)
	w.Reset(&buf)
	if _, err := w.Write(raw); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	// bbolt keeps the value until the commit: a copy of exactly its size.
	return bytes.Clone(buf.Bytes()), nil
}

// decodeValue reads a value written by encodeValue, or plain JSON.
func decodeValue(b []byte, v any) error {
	if len(b) == 0 || b[0] != valZ1 {
		return json.Unmarshal(b, v)
	}
	r := zreaders.Get().(io.ReadCloser)
	defer zreaders.Put(r)
	if err := r.(flate.Resetter).Reset(bytes.NewReader(b[1:]), []byte(dictZ1)); err != nil {
		return err
	}
	raw, err := io.ReadAll(io.LimitReader(r, maxValue+1))
	if err != nil {
		return fmt.Errorf("inflate: %w", err)
	}
	if len(raw) > maxValue {
		return fmt.Errorf("inflated value larger than %d bytes", maxValue)
	}
	return json.Unmarshal(raw, v)
}

// maxValue bounds what one stored value may inflate to (a detail with a
// long transcript is tens of KiB), so that a damaged file cannot make a
// read allocate without end.
const maxValue = 16 << 20
