package verbs_test

import (
	"fmt"
	"log"

	"github.com/go-rdma/rdma/verbs"
)

// List the RDMA devices, open each and print its port 1.
func Example() {
	devs, err := verbs.Devices()
	if err != nil {
		log.Fatal(err)
	}
	for _, d := range devs {
		ctx, err := verbs.Open(d.Name)
		if err != nil {
			log.Fatal(err)
		}
		p, err := ctx.QueryPort(1)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s (%s): port 1 %s, active MTU %d, link layer %s\n",
			d.Name, d.Transport, p.State, p.ActiveMTU.Bytes(), p.LinkLayer)
		ctx.Close()
	}
}
