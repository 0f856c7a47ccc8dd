package nasbench

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/renasgo/renas/nn"
)

// The cache file is little-endian:
//
//	magic    [8]byte  "RENASNB\x00"
//	version  uint32   cacheVersion
//	count    uint32   number of cells
//	count records of 23 bytes, in strictly increasing hash order:
//	  vertices uint8     2..7
//	  edges    uint32    bit k set for the k-th pair (i<j) in row-major order
//	  ops      uint16    2 bits per interior vertex, vertex 1 lowest: 0, 1, 2 as Op
//	  hash     [16]byte  the MD5 digest that Hash writes as hex
//	checksum [32]byte  SHA-256 of everything before it
const (
	cacheMagic = "RENASNB\x00"
	// Version 2 stores NAS-Bench-101's own graph for each hash, and version 1 stored an
	// arbitrary isomorphic graph.
	cacheVersion = 2
	headerSize   = 16
	recordSize   = 1 + 4 + 2 + 16
)

// ErrCorruptCache is returned by ReadSpace for a file that is not a complete space cache of
// this version: truncated, damaged, or written by another version.
var ErrCorruptCache = errors.New("corrupt space cache")

// DefaultCachePath returns the cache file under the user's cache folder, such as
// ~/.cache/renas/nasbench101-space.bin on Linux.
func DefaultCachePath() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder for the NAS-Bench-101 space: %w", err)
	}
	return filepath.Join(dir, "renas", "nasbench101-space.bin"), nil
}

// WriteTo writes the space in the cache format.
func (sp *Space) WriteTo(w io.Writer) (int64, error) {
	buf := make([]byte, 0, headerSize+recordSize*len(sp.cells)+sha256.Size)
	buf = append(buf, cacheMagic...)
	buf = binary.LittleEndian.AppendUint32(buf, cacheVersion)
	buf = binary.LittleEndian.AppendUint32(buf, uint32(len(sp.cells)))
	for i, s := range sp.cells {
		buf = append(buf, uint8(s.n))
		buf = binary.LittleEndian.AppendUint32(buf, s.edgeBits())
		var ops uint16
		for v := 1; v < s.n-1; v++ {
			ops |= uint16(s.ops[v]) << (2 * (v - 1))
		}
		buf = binary.LittleEndian.AppendUint16(buf, ops)
		buf = append(buf, sp.hashes[i][:]...)
	}
	sum := sha256.Sum256(buf)
	buf = append(buf, sum[:]...)
	n, err := w.Write(buf)
	return int64(n), err
}

// edgeBits packs the strictly upper triangle in row-major order, as matrixFromBits reads it.
func (s Spec) edgeBits() uint32 {
	var mask uint32
	bit := 0
	for i := 0; i < s.n; i++ {
		for j := i + 1; j < s.n; j++ {
			if s.out[i]&(1<<j) != 0 {
				mask |= 1 << bit
			}
			bit++
		}
	}
	return mask
}

// ReadSpace reads a space written by WriteTo. It verifies the checksum and that every
// record is a valid cell in hash order, but does not recompute the MD5 hashes.
func ReadSpace(r io.Reader) (*Space, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	if len(data) < headerSize+sha256.Size || string(data[:8]) != cacheMagic {
		return nil, fmt.Errorf("%w: missing header", ErrCorruptCache)
	}
	if v := binary.LittleEndian.Uint32(data[8:]); v != cacheVersion {
		return nil, fmt.Errorf("%w: version %d, expected %d", ErrCorruptCache, v, cacheVersion)
	}
	count := int(binary.LittleEndian.Uint32(data[12:]))
	if want := headerSize + recordSize*count + sha256.Size; len(data) != want {
		return nil, fmt.Errorf("%w: %d bytes, expected %d for %d cells", ErrCorruptCache,
			len(data), want, count)
	}
	body := data[:len(data)-sha256.Size]
	if sum := sha256.Sum256(body); !bytes.Equal(sum[:], data[len(body):]) {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorruptCache)
	}
	sp := &Space{cells: make([]Spec, count), hashes: make([][16]byte, count)}
	for i := range count {
		rec := body[headerSize+i*recordSize:]
		s, err := decodeRecord(rec)
		if err != nil {
			return nil, fmt.Errorf("%w: record %d: %v", ErrCorruptCache, i, err)
		}
		sp.cells[i] = s
		copy(sp.hashes[i][:], rec[7:23])
		if i > 0 && bytes.Compare(sp.hashes[i-1][:], sp.hashes[i][:]) >= 0 {
			return nil, fmt.Errorf("%w: record %d is out of hash order", ErrCorruptCache, i)
		}
	}
	return sp, nil
}

func decodeRecord(rec []byte) (Spec, error) {
	n := int(rec[0])
	if n < 2 || n > MaxVertices {
		return Spec{}, fmt.Errorf("%d vertices", n)
	}
	mask := binary.LittleEndian.Uint32(rec[1:])
	if pairs := n * (n - 1) / 2; mask>>pairs != 0 {
		return Spec{}, fmt.Errorf("edge bits %#x beyond %d vertices", mask, n)
	}
	s, ok := matrixFromBits(n, int(mask))
	if !ok {
		return Spec{}, fmt.Errorf("edge bits %#x leave a vertex off every input→output "+
			"path", mask)
	}
	if e := s.NumEdges(); e > MaxEdges {
		return Spec{}, fmt.Errorf("%d edges", e)
	}
	ops := binary.LittleEndian.Uint16(rec[5:])
	for v := 1; v < n-1; v++ {
		code := ops >> (2 * (v - 1)) & 3
		if code > uint16(OpMaxPool3x3) {
			return Spec{}, fmt.Errorf("op code %d at vertex %d", code, v)
		}
		s.ops[v] = Op(code)
	}
	if ops>>(2*(n-2)) != 0 {
		return Spec{}, fmt.Errorf("op bits %#x beyond %d vertices", ops, n)
	}
	return s, nil
}

// LoadSpace reads a cache file written by SaveSpace.
func LoadSpace(path string) (*Space, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// A cache of the whole space is under 10 MB; a larger file or a device is not a cache.
	const maxCache = 64 << 20
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() || st.Size() > maxCache {
		return nil, fmt.Errorf("%s: %w: not a regular file of at most %d bytes",
			path, ErrCorruptCache, maxCache)
	}
	sp, err := ReadSpace(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return sp, nil
}

// SaveSpace writes the space to path atomically, creating its folder.
func SaveSpace(path string, sp *Space) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return nn.WriteFileAtomic(path, func(w io.Writer) error {
		_, err := sp.WriteTo(w)
		return err
	})
}

// checkNotForeign returns an error when path is a file of 8 bytes or more that does not
// start with the cache's magic bytes. Such a file is other data, which OpenSpace must not
// replace.
func checkNotForeign(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return nil // a missing file is written; other errors show when it is read
	}
	defer f.Close()
	var head [len(cacheMagic)]byte
	if _, err := io.ReadFull(f, head[:]); err != nil || string(head[:]) == cacheMagic {
		return nil
	}
	return fmt.Errorf("%s is not a NAS-Bench-101 space cache, and is left as it is: give "+
		"another cache path", path)
}

// CacheOptions configures OpenSpace.
type CacheOptions struct {
	Path     string       // cache file; empty means DefaultCachePath
	Rebuild  bool         // enumerate even when a valid cache exists
	Progress Progress     // progress of an enumeration; may be nil
	Logger   *slog.Logger // receives a warning when a bad cache is replaced; nil: slog.Default
}

// OpenSpace loads the space from its cache, or enumerates it and writes the cache when the
// file is missing, corrupt, from another version or holds the wrong number of cells. It
// returns whether it enumerated.
func OpenSpace(opt CacheOptions) (sp *Space, built bool, err error) {
	path := opt.Path
	if path == "" {
		if path, err = DefaultCachePath(); err != nil {
			return nil, false, err
		}
	}
	log := opt.Logger
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, false, err
	}
	// Fail before minutes of enumeration when the cache could not be written afterwards.
	if _, err := nn.ResolveOutputPath(path); err != nil {
		return nil, false, err
	}
	if err := checkNotForeign(path); err != nil {
		return nil, false, err
	}
	if !opt.Rebuild {
		sp, err = LoadSpace(path)
		switch {
		case err == nil && sp.Len() == SpaceSize:
			return sp, false, nil
		case err == nil:
			log.Warn("rebuilding the NAS-Bench-101 space cache: wrong cell count",
				"path", path, "cells", sp.Len(), "expected", SpaceSize)
		case errors.Is(err, fs.ErrNotExist):
		case errors.Is(err, ErrCorruptCache):
			log.Warn("rebuilding the NAS-Bench-101 space cache", "path", path, "err", err)
		default:
			return nil, false, err
		}
	}
	sp = Enumerate(opt.Progress)
	if err := SaveSpace(path, sp); err != nil {
		return nil, true, fmt.Errorf("writing the space cache: %w", err)
	}
	return sp, true, nil
}
