// Command fetchdata puts the CIFAR-10 binary data set where eval and the tests look for it.
//
// It unpacks a local copy of the archive when one exists (--from), and otherwise downloads the
// official archive, checks its MD5 and unpacks it.
package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/schollz/progressbar/v3"

	"github.com/renasgo/renas/internal/cli"
	"github.com/renasgo/renas/nasnet/cifar10"
)

func main() {
	if err := run(os.Args[1:], os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "fetchdata:", err)
		os.Exit(2)
	}
}

func run(args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("fetchdata", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "data", "folder that receives cifar-10-batches-bin/")
	from := fs.String("from", filepath.Join("..", "shared", "cifar10", cifar10.ArchiveName),
		"local archive to unpack; when it does not exist the archive is downloaded")
	url := fs.String("url", cifar10.ArchiveURL, "address of the archive to download")
	md5 := fs.String("md5", cifar10.ArchiveMD5, "expected MD5 of the downloaded archive")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: fetchdata [flags]\n\n"+
			"Puts the CIFAR-10 binary data set into --out/cifar-10-batches-bin/: it unpacks\n"+
			"--from when that archive exists, and otherwise downloads --url and checks its\n"+
			"MD5. A folder that already contains the test set is left as it is.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	if err := cli.ParseFlagsNoArgs(fs, args); err != nil {
		return err
	}
	switch {
	case *out == "":
		return errors.New("--out is empty: give the folder for the data set")
	case *md5 != "" && !isHexMD5(*md5):
		return fmt.Errorf("--md5 %q is not 32 hexadecimal digits", *md5)
	}
	if cifar10.Complete(*out) {
		fmt.Fprintf(stderr, "fetchdata: %s already contains the CIFAR-10 data set\n", *out)
		return nil
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	// A signal ends the work at the next file, so that no temporary file is left behind.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	archive := *from
	if _, err := os.Stat(archive); err != nil {
		if *url == "" {
			return fmt.Errorf("no archive at %s (--from) and --url is empty", archive)
		}
		local := archive
		archive = filepath.Join(*out, cifar10.ArchiveName)
		fmt.Fprintf(stderr, "fetchdata: no archive at %s (--from); downloading %s\n", local,
			*url)
		bar := progressbar.DefaultBytes(-1, "download")
		if err := cifar10.Download(ctx, *url, archive, *md5, bar); err != nil {
			fmt.Fprintln(stderr) // ends the progress bar's line
			return fmt.Errorf("%w (without a network, give a local copy of the archive "+
				"with --from)", err)
		}
		bar.Finish()
	}
	fmt.Fprintf(stderr, "fetchdata: unpacking %s into %s\n", archive, *out)
	if err := cifar10.Extract(ctx, archive, *out); errors.Is(err, context.Canceled) {
		return errors.New("interrupted: the files unpacked so far are whole; run fetchdata " +
			"again to finish")
	} else if err != nil {
		return err
	}
	if _, err := cifar10.LoadTest(*out); err != nil {
		return err
	}
	return nil
}

// isHexMD5 reports whether s is an MD5 sum written as 32 hexadecimal digits.
func isHexMD5(s string) bool {
	b, err := hex.DecodeString(s)
	return err == nil && len(b) == 16
}
