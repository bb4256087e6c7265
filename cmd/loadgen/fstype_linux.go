// This file names the file system a store lives on, for the run's reports:
// a baseline measured on tmpfs says little about ext4 on a disk.

package main

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// fsNames maps statfs(2) magic numbers (linux/magic.h) to file system names.
var fsNames = map[int64]string{
	0xEF53:     "ext4", // ext2, ext3 and ext4 share the magic
	0x58465342: "xfs",
	0x9123683E: "btrfs",
	0x01021994: "tmpfs",
	0x858458F6: "ramfs",
	0x794C7630: "overlayfs",
	0x6969:     "nfs",
	0x2FC12FC1: "zfs",
	0xF2F52010: "f2fs",
	0xCA451A4E: "bcachefs",
	0x65735546: "fuse",
	0x4D44:     "vfat",
	0x2011BAB0: "exfat",
	0x5346544E: "ntfs",
	0xFF534D42: "cifs",
	0xFE534D42: "smb2",
	0x00C36400: "ceph",
	0x01021997: "9p",
	0x73717368: "squashfs",
	0x6165676C: "pstorefs",
}

// fsType returns the name of the file system dir is on, or its statfs magic
// number in hex when the name is not known here.
func fsType(dir string) (string, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return "", fmt.Errorf("statfs %s: %w", dir, err)
	}
	magic := int64(st.Type) & 0xFFFFFFFF
	if name, ok := fsNames[magic]; ok {
		return name, nil
	}
	return fmt.Sprintf("0x%x", magic), nil
}
