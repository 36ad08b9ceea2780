package tcpserve

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math/big"
	"net"
	"time"
	"unicode/utf16"
)

// HandshakeTimeout bounds a TLS handshake, implicit or after STARTTLS/STLS,
// so that a client that connects and goes silent cannot hold a goroutine.
const HandshakeTimeout = 30 * time.Second

// Handshake runs the server side of a TLS handshake on c within
// HandshakeTimeout.
func Handshake(c net.Conn, cfg *tls.Config) (*tls.Conn, error) {
	tc := tls.Server(c, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	return tc, nil
}

// HostTag encodes a host name as Exchange's IMAP and POP3 greetings do:
// base64 of its UTF-16LE form.
func HostTag(host string) string {
	units := utf16.Encode([]rune(host))
	b := make([]byte, 2*len(units))
	for i, u := range units {
		binary.LittleEndian.PutUint16(b[2*i:], u)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// Exchange Online backend domains: the captured IMAP greeting names an
// exchangelabs.com backend; the POP3 greeting and SMTP reply brackets name
// outlook.com ones (exo-responses.md §2).
const (
	SuffixExchangeLabs = "prod.exchangelabs.com"
	SuffixOutlook      = "prod.outlook.com"
)

// RandomHost returns a backend name shaped like Exchange Online's
// ("SI2PR01CA0042.apcprd01.prod.exchangelabs.com") under suffix.
func RandomHost(suffix string) string {
	regions := []struct{ short, long string }{
		{"SI2", "apcprd01"}, {"SG2", "apcprd02"}, {"TY1", "jpnprd01"}, {"MN2", "namprd05"},
		{"AM0", "eurprd06"}, {"PH0", "namprd07"}, {"BN9", "namprd03"},
	}
	r := regions[randInt(len(regions))]
	return fmt.Sprintf("%sPR%02dCA%04d.%s.%s", r.short, randInt(20)+1, randInt(10000), r.long, suffix)
}

func randInt(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		return 0
	}
	return int(v.Int64())
}
