package container

import (
	"encoding/json"
	"fmt"
	"io"

	"golang.org/x/sys/unix"
)

// The parent and init talk over a SOCK_SEQPACKET socketpair: init reports
// failures (with the exit code mydocker should end with) and passes the
// terminal's master side. The socket is close-on-exec in init, so the parent
// reading end-of-file means init has exec'd the user's command.

const (
	msgError   = "error"
	msgConsole = "console" // carries the pty master as SCM_RIGHTS
	// msgStart goes the other way, to an init that awaits it: what the
	// parent set up meanwhile (the network) is ready; run the command.
	msgStart = "start"
)

type syncMsg struct {
	Type  string `json:"type"`
	Error string `json:"error,omitempty"`
	Code  int    `json:"code,omitempty"`
}

func sendMsg(sock int, m syncMsg, fd int) error {
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	var oob []byte
	if fd >= 0 {
		oob = unix.UnixRights(fd)
	}
	return unix.Sendmsg(sock, data, oob, nil, 0)
}

// recvMsg returns io.EOF once the other side has closed (exec'd or died).
func recvMsg(sock int) (syncMsg, int, error) {
	buf := make([]byte, 64<<10)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := unix.Recvmsg(sock, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return syncMsg{}, -1, err
		}
		if n == 0 && oobn == 0 {
			return syncMsg{}, -1, io.EOF
		}
		fd := -1
		if oobn > 0 {
			cmsgs, err := unix.ParseSocketControlMessage(oob[:oobn])
			if err == nil && len(cmsgs) > 0 {
				if fds, err := unix.ParseUnixRights(&cmsgs[0]); err == nil && len(fds) > 0 {
					fd = fds[0]
				}
			}
		}
		var m syncMsg
		if err := json.Unmarshal(buf[:n], &m); err != nil {
			return syncMsg{}, fd, fmt.Errorf("init sent a bad message: %w", err)
		}
		return m, fd, nil
	}
}
