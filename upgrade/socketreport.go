package upgrade

import (
	"os"
	"path/filepath"
)

// reportSocket tells the parent, while this new generation is not ready
// yet, that it created the unix socket file at path, so that the parent
// removes it should this process die before it can. After Ready (or an
// error) nothing is sent: the file is then this generation's to keep.
func (u *Upgrader) reportSocket(path string) {
	if abs, err := filepath.Abs(path); err == nil {
		path = abs
	}
	info, err := os.Lstat(path)
	if err != nil || info.Mode()&os.ModeSocket == 0 {
		return
	}
	if err := u.parent.notice(statusMsg{Status: statusSocket, Pid: os.Getpid(), Path: path, Ino: fileIno(info)}); err != nil {
		u.log.Warn("telling the parent of a new socket file failed", "path", path, "error", err)
	}
}
