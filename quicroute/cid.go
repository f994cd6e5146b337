package quicroute

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"

	"github.com/quic-go/quic-go"
)

// CIDLen is the length of every connection ID a router's Transport issues:
// one AES block, so that the generation inside it is encrypted as a whole.
const CIDLen = 16

// cidMagic marks a connection ID as ours once decrypted; a random ID
// passes the check with a chance of 2^-32.
const cidMagic = 0x71726f75 // "qrou"

// cidCodec stamps connection IDs with a generation and reads it back. The
// plaintext block is generation (4 bytes) | magic (4) | random (8); the ID
// is its AES-128 encryption under a key derived from the shared secret, so
// an observer cannot link two IDs of one connection or learn the
// generation, while every generation can read every other's tag.
type cidCodec struct {
	block cipher.Block
}

func newCIDCodec(secret []byte) (*cidCodec, error) {
	key := derive(secret, "connection id")
	block, err := aes.NewCipher(key[:16])
	if err != nil {
		return nil, fmt.Errorf("quicroute: connection ID cipher: %w", err)
	}
	return &cidCodec{block: block}, nil
}

// derive gives a 32-byte key for one purpose from the shared secret.
func derive(secret []byte, purpose string) [32]byte {
	return sha256.Sum256(append([]byte("flipd quicroute "+purpose+"\x00"), secret...))
}

// encode returns a new connection ID of generation gen.
func (c *cidCodec) encode(gen uint32) ([]byte, error) {
	var plain [CIDLen]byte
	binary.BigEndian.PutUint32(plain[0:4], gen)
	binary.BigEndian.PutUint32(plain[4:8], cidMagic)
	if _, err := rand.Read(plain[8:]); err != nil {
		return nil, fmt.Errorf("quicroute: random connection ID: %w", err)
	}
	out := make([]byte, CIDLen)
	c.block.Encrypt(out, plain[:])
	return out, nil
}

// decode returns the generation a connection ID was issued by, or false if
// it is not one of ours (client-chosen, random, or of another secret).
func (c *cidCodec) decode(cid []byte) (uint32, bool) {
	if len(cid) != CIDLen {
		return 0, false
	}
	var plain [CIDLen]byte
	c.block.Decrypt(plain[:], cid)
	if binary.BigEndian.Uint32(plain[4:8]) != cidMagic {
		return 0, false
	}
	return binary.BigEndian.Uint32(plain[0:4]), true
}

// generator is the quic.ConnectionIDGenerator of one generation.
type generator struct {
	codec *cidCodec
	gen   uint32
}

func (g generator) GenerateConnectionID() (quic.ConnectionID, error) {
	b, err := g.codec.encode(g.gen)
	if err != nil {
		return quic.ConnectionID{}, err
	}
	return quic.ConnectionIDFromBytes(b), nil
}

func (g generator) ConnectionIDLen() int { return CIDLen }

var _ quic.ConnectionIDGenerator = generator{}
