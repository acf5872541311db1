// Command udpecho answers every UDP datagram with the same bytes: a UDP
// server for tests, since busybox has none. Built static and bind-mounted
// into a container.
package main

import (
	"log"
	"net"
	"os"
)

func main() {
	c, err := net.ListenPacket("udp4", ":"+os.Args[1])
	if err != nil {
		log.Fatal(err)
	}
	buf := make([]byte, 65536)
	for {
		n, addr, err := c.ReadFrom(buf)
		if err != nil {
			log.Fatal(err)
		}
		c.WriteTo(buf[:n], addr)
	}
}
