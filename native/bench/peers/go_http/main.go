// The Go net/http peer of `fibers serve`: the same fixed response, one
// goroutine per connection (net/http's own model), GOMAXPROCS = CPUs.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	flag.Parse()
	body := []byte("Hello, World!")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})
	fmt.Printf("listening on http://%s/\n", *addr)
	log.Fatal(http.ListenAndServe(*addr, nil))
}
