// Licensed under the Apache License, Version 2.0 (the "License"); you may
// not use this file except in compliance with the License. You may obtain
// a copy of the License at
//
//      http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
// WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
// License for the specific language governing permissions and limitations
// under the License.

// Command vcsim is a small vCenter simulator used by the test-suite. It is
// built on top of govmomi's simulator package (patched, see
// tests/vcsim/patches) and prints a single JSON line describing the endpoint
// and the generated inventory on stdout once it is ready to serve.
package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/types"
)

type datastoreInfo struct {
	Name  string `json:"name"`
	Moref string `json:"moref"`
	Dir   string `json:"dir"`
	Type  string `json:"type"`
}

type clusterInfo struct {
	Name  string   `json:"name"`
	Moref string   `json:"moref"`
	Hosts []string `json:"hosts"`
}

type podInfo struct {
	Name    string   `json:"name"`
	Moref   string   `json:"moref"`
	Members []string `json:"members"`
}

type datacenterInfo struct {
	Name            string          `json:"name"`
	Moref           string          `json:"moref"`
	Datastores      []datastoreInfo `json:"datastores"`
	Clusters        []clusterInfo   `json:"clusters"`
	StandaloneHosts []string        `json:"standalone_hosts"`
	Pods            []podInfo       `json:"pods"`
}

type readyInfo struct {
	URL       string `json:"url"`
	Host      string `json:"host"`
	Port      int    `json:"port"`
	Inventory struct {
		Datacenters []datacenterInfo `json:"datacenters"`
	} `json:"inventory"`
}

func fatalf(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "vcsim: "+format+"\n", args...)
	os.Exit(2)
}

// wsdlHandler serves the (flat) contents of dir below /sdk/.
func wsdlHandler(dir string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		name := strings.TrimPrefix(r.URL.Path, "/sdk/")
		if dir == "" || name == "" || strings.Contains(name, "/") || name == "." || name == ".." {
			http.NotFound(w, r)
			return
		}
		p := filepath.Join(dir, name)
		st, err := os.Stat(p)
		if err != nil || !st.Mode().IsRegular() {
			http.NotFound(w, r)
			return
		}
		switch filepath.Ext(name) {
		case ".wsdl", ".xsd", ".xml":
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
		}
		http.ServeFile(w, r, p)
	}
}

func names(refs []types.ManagedObjectReference) []string {
	out := []string{}
	for _, ref := range refs {
		if e, ok := simulator.Map.Get(ref).(mo.Entity); ok {
			out = append(out, e.Entity().Name)
		}
	}
	return out
}

// collect walks the simulator inventory (in-process, no SOAP round trips).
func collect() []datacenterInfo {
	var dcs []datacenterInfo
	for _, obj := range simulator.Map.All("Datacenter") {
		dc := obj.(*simulator.Datacenter)
		info := datacenterInfo{
			Name:            dc.Name,
			Moref:           dc.Self.Value,
			Datastores:      []datastoreInfo{},
			Clusters:        []clusterInfo{},
			StandaloneHosts: []string{},
			Pods:            []podInfo{},
		}
		// Walk the datacenter's datastore and host folders.
		var walk func(ref types.ManagedObjectReference)
		walk = func(ref types.ManagedObjectReference) {
			switch o := simulator.Map.Get(ref).(type) {
			case *simulator.Folder:
				for _, c := range o.ChildEntity {
					walk(c)
				}
			case *simulator.StoragePod:
				info.Pods = append(info.Pods, podInfo{
					Name: o.Name, Moref: o.Self.Value, Members: names(o.ChildEntity),
				})
				for _, c := range o.ChildEntity {
					walk(c)
				}
			case *simulator.Datastore:
				info.Datastores = append(info.Datastores, datastoreInfo{
					Name:  o.Name,
					Moref: o.Self.Value,
					Dir:   o.Info.GetDatastoreInfo().Url,
					Type:  o.Summary.Type,
				})
			case *simulator.ClusterComputeResource:
				info.Clusters = append(info.Clusters, clusterInfo{
					Name: o.Name, Moref: o.Self.Value, Hosts: names(o.Host),
				})
			case *mo.ComputeResource:
				info.StandaloneHosts = append(info.StandaloneHosts, names(o.Host)...)
			}
		}
		walk(dc.DatastoreFolder)
		walk(dc.HostFolder)
		sort.Slice(info.Datastores, func(i, j int) bool { return info.Datastores[i].Name < info.Datastores[j].Name })
		dcs = append(dcs, info)
	}
	sort.Slice(dcs, func(i, j int) bool { return dcs[i].Name < dcs[j].Name })
	return dcs
}

// fillPods moves every datastore of a datacenter but the first (by name)
// into its storage pods, round robin: govmomi's model creates them empty.
func fillPods(u *url.URL) error {
	ctx := context.Background()
	c, err := govmomi.NewClient(ctx, u, true)
	if err != nil {
		return err
	}
	defer func() { _ = c.Logout(ctx) }()
	finder := find.NewFinder(c.Client, false)
	dcs, err := finder.DatacenterList(ctx, "*")
	if err != nil {
		return err
	}
	for _, dc := range dcs {
		finder.SetDatacenter(dc)
		pods, err := finder.DatastoreClusterList(ctx, "*")
		if err != nil {
			return err
		}
		dss, err := finder.DatastoreList(ctx, "*")
		if err != nil {
			return err
		}
		sort.Slice(dss, func(i, j int) bool { return dss[i].Name() < dss[j].Name() })
		members := make([][]types.ManagedObjectReference, len(pods))
		for i, ds := range dss[1:] {
			members[i%len(pods)] = append(members[i%len(pods)], ds.Reference())
		}
		for i, pod := range pods {
			if len(members[i]) == 0 {
				continue
			}
			task, err := pod.MoveInto(ctx, members[i])
			if err != nil {
				return err
			}
			if err := task.Wait(ctx); err != nil {
				return err
			}
		}
	}
	return nil
}

func main() {
	log.SetOutput(os.Stderr)
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)

	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (host:port)")
	certFile := flag.String("cert", "", "TLS certificate (PEM)")
	keyFile := flag.String("key", "", "TLS private key (PEM)")
	wsdlDir := flag.String("wsdl-dir", "", "directory served at /sdk/<file> (vimService.wsdl etc.)")
	username := flag.String("username", "user", "the only user name accepted by SessionManager.Login")
	password := flag.String("password", "pass", "the only password accepted by SessionManager.Login")
	dc := flag.Int("dc", 1, "number of datacenters")
	cluster := flag.Int("cluster", 1, "number of clusters per datacenter")
	clusterHost := flag.Int("cluster-host", 2, "number of hosts per cluster")
	standalone := flag.Int("standalone-host", 0, "number of standalone hosts per datacenter")
	ds := flag.Int("ds", 2, "number of local datastores (shared by all hosts of a datacenter)")
	pod := flag.Int("pod", 0, "number of storage pods per datacenter; every datastore but the first is moved into one")
	pg := flag.Int("pg", 1, "number of distributed port groups per datacenter")
	vm := flag.Int("vm", 0, "number of VMs per resource pool / standalone host")
	trace := flag.Bool("trace", false, "trace SOAP requests/responses to stderr")
	hostName := flag.String("host-name", "", "name every ESX host this (e.g. the listen address), so clients that talk to hosts directly reach the simulator")
	apiVersion := flag.String("api-version", "", "about.apiVersion to report instead of the model's (6.5), e.g. 8.0.3.0 for clients that use vSphere 6.7+ methods such as HttpNfcLeasePullFromUrls_Task")
	flag.Parse()

	if (*certFile == "") != (*keyFile == "") {
		fatalf("-cert and -key must be given together")
	}
	if *username == "" || *password == "" {
		fatalf("-username and -password must not be empty")
	}
	if _, _, err := net.SplitHostPort(*listen); err != nil {
		fatalf("invalid -listen %q: %s", *listen, err)
	}

	if *trace {
		simulator.Trace = true
		simulator.TraceFile = os.Stderr
	}

	m := simulator.VPX()
	m.Datacenter = *dc
	m.Cluster = *cluster
	m.ClusterHost = *clusterHost
	m.Host = *standalone
	m.Datastore = *ds
	m.Pod = *pod
	m.Portgroup = *pg
	m.Machine = *vm
	m.Autostart = false
	if *apiVersion != "" {
		m.ServiceContent.About.ApiVersion = *apiVersion
	}

	// Remove the datastore directories on every exit path from here on.
	cleanup := func() { m.Remove() }

	if err := m.Create(); err != nil {
		cleanup()
		fatalf("creating model: %s", err)
	}

	if *hostName != "" {
		// vCenter inventories often name hosts by address; Nova uploads
		// image data to the host named in the inventory.
		for _, obj := range simulator.Map.All("HostSystem") {
			host := obj.(*simulator.HostSystem)
			host.Name = *hostName
			host.Summary.Config.Name = *hostName
		}
	}

	tlsConfig := new(tls.Config)
	if *certFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			cleanup()
			fatalf("loading certificate: %s", err)
		}
		tlsConfig.Certificates = []tls.Certificate{cert}
	}
	m.Service.TLS = tlsConfig
	m.Service.Listen = &url.URL{Host: *listen, User: url.UserPassword(*username, *password)}
	m.Service.ServeMux = http.NewServeMux()
	m.Service.ServeMux.HandleFunc("/sdk/", wsdlHandler(*wsdlDir))

	var srv *simulator.Server
	func() {
		defer func() {
			if r := recover(); r != nil {
				cleanup()
				fatalf("starting server: %v", r)
			}
		}()
		srv = m.Service.NewServer()
	}()

	if *pod > 0 {
		if err := fillPods(srv.URL); err != nil {
			srv.Close()
			cleanup()
			fatalf("filling storage pods: %s", err)
		}
	}

	addr := srv.Listener.Addr().(*net.TCPAddr)
	host := addr.IP.String()
	u := url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(addr.Port)), Path: "/sdk"}

	var ready readyInfo
	ready.URL = u.String()
	ready.Host = host
	ready.Port = addr.Port
	ready.Inventory.Datacenters = collect()

	line, err := json.Marshal(&ready)
	if err != nil {
		srv.Close()
		cleanup()
		fatalf("encoding ready line: %s", err)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)

	os.Stdout.Write(append(line, '\n'))
	_ = os.Stdout.Sync()
	log.Printf("vcsim ready at %s", ready.URL)

	s := <-sig
	log.Printf("vcsim: received %s, shutting down", s)
	signal.Stop(sig)
	// Don't wait forever for hijacked/long-lived connections.
	srv.CloseClientConnections()
	srv.Close()
	cleanup()
}
