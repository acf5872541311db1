// Command sysprobe makes the system calls a confined container must not be
// able to make, and prints what each returned: a probe for the security
// tests, since busybox has no keyctl or init_module. Built static and
// bind-mounted into a container.
package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

func main() {
	for _, name := range os.Args[1:] {
		var err error
		switch name {
		case "keyctl":
			_, err = unix.KeyctlJoinSessionKeyring("sysprobe")
		case "add_key":
			_, err = unix.AddKey("user", "sysprobe", []byte("x"), unix.KEY_SPEC_PROCESS_KEYRING)
		case "init_module":
			err = unix.InitModule([]byte("not a module"), "")
		case "unshare_user":
			err = unix.Unshare(unix.CLONE_NEWUSER)
		case "open_block":
			// A block device node the test made with the host's real numbers.
			var f *os.File
			f, err = os.OpenFile(os.Getenv("SYSPROBE_DEV"), os.O_RDONLY, 0)
			if err == nil {
				f.Close()
			}
		default:
			fmt.Printf("%s: unknown probe\n", name)
			continue
		}
		if err == nil {
			fmt.Printf("%s: ok\n", name)
		} else {
			fmt.Printf("%s: %v\n", name, err)
		}
	}
}
