package cli

import (
	"bytes"
	"flag"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseFlagsOneLineErrors(t *testing.T) {
	var out bytes.Buffer
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(&out)
	fs.Int("limit", 0, "a limit")
	usage := 0
	fs.Usage = func() { usage++ }

	err := ParseFlags(fs, []string{"--bogus"})
	require.Error(t, err)
	assert.Equal(t, "flag provided but not defined: --bogus (see --help)", err.Error())
	err = ParseFlags(fs, []string{"--limit", "abc"})
	assert.ErrorContains(t, err, `invalid value "abc" for flag --limit`)
	err = ParseFlags(fs, []string{"--limit"})
	assert.ErrorContains(t, err, "flag needs an argument: --limit")
	assert.Empty(t, out.String(), "nothing printed for errors")
	assert.Equal(t, 0, usage)

	err = ParseFlags(fs, []string{"--help"})
	assert.ErrorIs(t, err, flag.ErrHelp)
	assert.Equal(t, 1, usage, "usage printed once for --help")
}

func TestParseFlagsNoArgsRejectsArgument(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	limit := fs.Int("limit", 0, "a limit")

	require.NoError(t, ParseFlagsNoArgs(fs, []string{"--limit", "3"}))
	assert.Equal(t, 3, *limit)

	err := ParseFlagsNoArgs(fs, []string{"--limit", "4", "extra"})
	require.Error(t, err)
	assert.Equal(t, `unexpected argument "extra" (flags start with --)`, err.Error())

	err = ParseFlagsNoArgs(fs, []string{"--", "--limit"})
	require.Error(t, err)
	assert.Equal(t, `unexpected argument "--limit" after --, which ends the flags`, err.Error())

	err = ParseFlagsNoArgs(fs, []string{"--bogus"})
	assert.ErrorContains(t, err, "(see --help)")
}

func TestAvailableMemory(t *testing.T) {
	n, ok := AvailableMemory()
	if !ok {
		t.Skip("no /proc/meminfo on this system")
	}
	assert.Greater(t, n, int64(1<<20))
}
