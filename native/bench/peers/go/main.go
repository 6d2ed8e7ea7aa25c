// The scheduler workloads of bench_sched.c, written the way Go programs
// write them, for side-by-side figures. Prints "<workload> <value> <unit>".
//
//	go run . [-repeat R] [workload ...]   (GOMAXPROCS picks the number of threads)
package main

import (
	"flag"
	"fmt"
	"os"
	"sync"
	"time"
)

const (
	spawnCount     = 100000
	pingPongRounds = 500000
	bufferedItems  = 5000000
)

func spawnJoin() {
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < spawnCount; i++ {
		wg.Add(1)
		go func() { wg.Done() }()
	}
	wg.Wait()
	fmt.Printf("spawn_join %.1f ns/fiber\n", float64(time.Since(start).Nanoseconds())/spawnCount)
}

func pingPong() {
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	start := time.Now()
	for i := 0; i < pingPongRounds; i++ {
		ping <- i
		<-pong
	}
	elapsed := time.Since(start)
	close(ping)
	fmt.Printf("ping_pong %.1f ns/round-trip\n", float64(elapsed.Nanoseconds())/pingPongRounds)
}

func buffered() {
	ch := make(chan int, 1024)
	done := make(chan int)
	go func() {
		sum := 0
		for v := range ch {
			sum += v
		}
		done <- sum
	}()
	start := time.Now()
	for i := 0; i < bufferedItems; i++ {
		ch <- i
	}
	close(ch)
	sum := <-done
	elapsed := time.Since(start)
	if sum != bufferedItems*(bufferedItems-1)/2 {
		panic("buffered: wrong sum")
	}
	fmt.Printf("buffered %.1f ns/item\n", float64(elapsed.Nanoseconds())/bufferedItems)
}

func skynetNode(c chan int, num, size int) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int)
	part := size / 10
	for i := 0; i < 10; i++ {
		go skynetNode(rc, num+i*part, part)
	}
	sum := 0
	for i := 0; i < 10; i++ {
		sum += <-rc
	}
	c <- sum
}

func skynet() {
	c := make(chan int)
	start := time.Now()
	go skynetNode(c, 0, 1000000)
	sum := <-c
	elapsed := time.Since(start)
	if sum != 499999500000 {
		panic("skynet: wrong sum")
	}
	fmt.Printf("skynet %.1f ms\n", float64(elapsed.Nanoseconds())/1e6)
}

func main() {
	all := map[string]func(){"spawn_join": spawnJoin, "ping_pong": pingPong, "buffered": buffered, "skynet": skynet}
	order := []string{"spawn_join", "ping_pong", "buffered", "skynet"}
	repeat := flag.Int("repeat", 1, "runs of each workload, in this process")
	flag.Parse()
	wanted := flag.Args()
	if len(wanted) == 0 {
		wanted = order
	}
	for _, name := range wanted {
		run, ok := all[name]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown workload %s\n", name)
			os.Exit(2)
		}
		for i := 0; i < *repeat; i++ {
			run()
		}
	}
}
