//go:build !linux

package link

import (
	"errors"
	"net"

	"armos/libipc/skbuff"
)

// TAP devices exist only on Linux; elsewhere OpenTAP fails.
type TAP struct{}

// OpenTAP fails: TAP devices need Linux's /dev/net/tun.
func OpenTAP(name string) (*TAP, error) {
	return nil, errors.New("link: TAP devices need Linux (/dev/net/tun)")
}

// Name is never reached: no TAP can be opened.
func (t *TAP) Name() string { return "" }

// MTU is never reached: no TAP can be opened.
func (t *TAP) MTU() int { return 0 }

// HostMAC is never reached: no TAP can be opened.
func (t *TAP) HostMAC() net.HardwareAddr { return nil }

// ReadFrame is never reached: no TAP can be opened.
func (t *TAP) ReadFrame(p []byte) (int, error) { return 0, ErrClosed }

// WriteFrame is never reached: no TAP can be opened.
func (t *TAP) WriteFrame(p []byte) error { return ErrClosed }

// ReadBuf is never reached: no TAP can be opened.
func (t *TAP) ReadBuf(b *skbuff.Buf) error { return ErrClosed }

// Transmit is never reached: no TAP can be opened.
func (t *TAP) Transmit(b *skbuff.Buf) error { return ErrClosed }

// Close is never reached: no TAP can be opened.
func (t *TAP) Close() error { return nil }
