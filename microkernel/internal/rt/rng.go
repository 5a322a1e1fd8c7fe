package rt

import (
	"encoding/binary"
	"math/bits"
)

// The kernel's random number generator, behind getrandom(2) and AT_RANDOM:
// ChaCha20 (RFC 8439's block function) used as a stream generator with
// fast key erasure: every request re-keys the generator from its own
// output first, so a state read later cannot reproduce earlier output. It
// is seeded at boot from the device tree's /chosen/rng-seed (QEMU fills it
// from the host's RNG) mixed with the counter, and stirred with the
// counter at every request.

type chacha struct {
	key     [8]uint32
	counter uint64
	seeded  bool
}

var rng chacha

// quarter is the ChaCha quarter round.
//
//go:nosplit
func quarter(a, b, c, d uint32) (uint32, uint32, uint32, uint32) {
	a += b
	d = bits.RotateLeft32(d^a, 16)
	c += d
	b = bits.RotateLeft32(b^c, 12)
	a += b
	d = bits.RotateLeft32(d^a, 8)
	c += d
	b = bits.RotateLeft32(b^c, 7)
	return a, b, c, d
}

// block writes the 64-byte ChaCha20 block for key, counter and nonce.
//
//go:nosplit
func chachaBlock(out *[64]byte, key *[8]uint32, counter uint32, nonce [3]uint32) {
	var s, x [16]uint32
	s[0], s[1], s[2], s[3] = 0x61707865, 0x3320646e, 0x79622d32, 0x6b206574
	copy(s[4:12], key[:])
	s[12] = counter
	s[13], s[14], s[15] = nonce[0], nonce[1], nonce[2]
	x = s
	for i := 0; i < 10; i++ {
		x[0], x[4], x[8], x[12] = quarter(x[0], x[4], x[8], x[12])
		x[1], x[5], x[9], x[13] = quarter(x[1], x[5], x[9], x[13])
		x[2], x[6], x[10], x[14] = quarter(x[2], x[6], x[10], x[14])
		x[3], x[7], x[11], x[15] = quarter(x[3], x[7], x[11], x[15])
		x[0], x[5], x[10], x[15] = quarter(x[0], x[5], x[10], x[15])
		x[1], x[6], x[11], x[12] = quarter(x[1], x[6], x[11], x[12])
		x[2], x[7], x[8], x[13] = quarter(x[2], x[7], x[8], x[13])
		x[3], x[4], x[9], x[14] = quarter(x[3], x[4], x[9], x[14])
	}
	for i := range x {
		binary.LittleEndian.PutUint32(out[4*i:], x[i]+s[i])
	}
}

// seed mixes b into the key.
//
//go:nosplit
func (r *chacha) seed(b []byte) {
	for i, c := range b {
		r.key[(i/4)%8] ^= uint32(c) << (8 * (i % 4))
	}
	r.seeded = true
	r.rekey()
}

// next produces one block of output under a nonce that includes the
// counter value now (stirring in timing), advancing the block counter.
//
//go:nosplit
func (r *chacha) next(out *[64]byte) {
	t := now()
	r.counter++
	chachaBlock(out, &r.key, uint32(r.counter), [3]uint32{uint32(r.counter >> 32), uint32(t), uint32(t >> 32)})
}

// rekey replaces the key with fresh output (fast key erasure).
//
//go:nosplit
func (r *chacha) rekey() {
	var b [64]byte
	r.next(&b)
	for i := range r.key {
		r.key[i] = binary.LittleEndian.Uint32(b[4*i:])
	}
	clear(b[:])
}

// read fills p with random bytes.
//
//go:nosplit
func (r *chacha) read(p []byte) {
	r.rekey()
	var b [64]byte
	for len(p) > 0 {
		r.next(&b)
		n := copy(p, b[:])
		p = p[n:]
	}
	clear(b[:])
}

// getrandom(buf, count, flags): at most maxIOChunk bytes per call (a
// short read; callers loop, as with Linux's 32 MiB limit).
func sysGetrandomFn(tf *Frame) uint64 {
	const grndNonblock, grndRandom, grndInsecure = 1, 2, 4
	if tf.X[2]&^(grndNonblock|grndRandom|grndInsecure) != 0 {
		return errno(EINVAL)
	}
	n := tf.X[1]
	if n > maxIOChunk {
		n = maxIOChunk
	}
	var buf [256]byte
	done := uint64(0)
	for done < n {
		// Up to the end of a page at a time, so a buffer running into
		// a bad page gets what fits before it (a short read, as Linux).
		k := min(n-done, uint64(len(buf)), pageSize-(tf.X[0]+done)%pageSize)
		rng.read(buf[:k])
		ok := copyOut(tf.X[0]+done, buf[:k])
		clear(buf[:])
		if !ok {
			if done == 0 {
				return errno(EFAULT)
			}
			break
		}
		done += k
	}
	return done
}

// Random fills b with bytes from the kernel's generator (for AT_RANDOM).
// The kernel does not use crypto/rand: its FIPS DRBG would add 32 MiB of
// BSS to the image.
func Random(b []byte) {
	touch(b)
	for len(b) > 0 {
		n := min(len(b), 256)
		Locked(func() { rng.read(b[:n]) })
		b = b[n:]
	}
}
