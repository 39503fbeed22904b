// Command rmctl is the command-line client of the edge Resource Manager and
// its offline tools (device, circuit, place, bench, ...).
//
// Each subcommand lives in its own file and registers itself in init with
// register; main dispatches on the first argument.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one rmctl subcommand. run gets the arguments after the
// subcommand's name and the writers to print to; it returns the exit code.
type command struct {
	name    string // may contain a space for nested commands ("bench place")
	summary string
	run     func(args []string, stdout, stderr io.Writer) int
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("rmctl: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		return 0
	}
	// Nested commands first ("bench place"), then single words.
	if len(args) >= 2 {
		if c, ok := commands[args[0]+" "+args[1]]; ok {
			return c.run(args[2:], stdout, stderr)
		}
	}
	if c, ok := commands[args[0]]; ok {
		return c.run(args[1:], stdout, stderr)
	}
	fmt.Fprintf(stderr, "rmctl: unknown command %q (rmctl help lists them)\n", strings.Join(args[:min(2, len(args))], " "))
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "rmctl: client and offline tools of the edge Resource Manager")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-18s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nrmctl COMMAND -h shows a command's flags.")
}

// parseFlags parses args with fs, allowing flags after positional arguments
// ("rmctl release ID --json"). It returns the positional arguments. A parse
// error has already been printed by fs; the caller exits with code 2.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if rest[0] == "--" {
			return append(pos, rest[1:]...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// newFlagSet returns a FlagSet that reports errors to stderr and does not exit.
func newFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("rmctl "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// printJSON writes v as indented JSON followed by a newline.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// fail prints an error and returns exit code 1. With asJSON it prints
// {"error": "..."} on stdout so that scripts can read it.
func fail(stdout, stderr io.Writer, asJSON bool, err error) int {
	if asJSON {
		_ = printJSON(stdout, map[string]string{"error": err.Error()})
	}
	fmt.Fprintln(stderr, "rmctl:", err)
	return 1
}

var errUsage = errors.New("usage")
