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

package simtest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// 0021: HttpNfcLease.HttpNfcLeasePullFromUrls_Task.

// importLease starts an import of a one-disk VM, as oslo.vmware's
// VmdkWriteHandle does, and returns the lease and the disk's import key.
func (e *env) importLease(name string) (types.ManagedObjectReference, string) {
	e.t.Helper()
	spec := &types.VirtualMachineImportSpec{}
	pool, folder := e.oneDiskVM(name, &spec.ConfigSpec)
	lease, err := pool.ImportVApp(e.ctx, spec, folder, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	var l mo.HttpNfcLease
	pc := property.DefaultCollector(e.client.Client)
	if err = pc.RetrieveOne(e.ctx, lease.Reference(), []string{"info", "state", "capabilities"}, &l); err != nil {
		e.t.Fatal(err)
	}
	if l.State != types.HttpNfcLeaseStateReady || !l.Capabilities.PullModeSupported {
		e.t.Fatalf("lease state %s, pull mode supported %v", l.State, l.Capabilities.PullModeSupported)
	}
	for _, u := range l.Info.DeviceUrl {
		if u.Disk != nil && *u.Disk {
			return lease.Reference(), u.ImportKey
		}
	}
	e.t.Fatalf("no disk in lease info %#v", l.Info)
	return types.ManagedObjectReference{}, ""
}

// pull runs HttpNfcLeasePullFromUrls_Task and returns the fault of the call
// or of the task, or nil.
func (e *env) pull(lease types.ManagedObjectReference, files ...types.HttpNfcLeaseSourceFile) interface{} {
	e.t.Helper()
	res, err := methods.HttpNfcLeasePullFromUrls_Task(e.ctx, e.client.Client,
		&types.HttpNfcLeasePullFromUrls_Task{This: lease, Files: files})
	if err != nil {
		if soap.IsSoapFault(err) {
			return soap.ToSoapFault(err).VimFault()
		}
		e.t.Fatal(err)
	}
	return e.taskFault(res.Returnval)
}

func (e *env) taskFault(task types.ManagedObjectReference) interface{} {
	e.t.Helper()
	info, err := object.NewTask(e.client.Client, task).WaitForResult(e.ctx, nil)
	if info != nil && info.Error != nil {
		return info.Error.Fault
	}
	if err != nil {
		e.t.Fatal(err)
	}
	return nil
}

// countingProxy forwards TCP connections to addr and counts the bytes that
// come back: the pull must really go over the network.
func countingProxy(t *testing.T, addr string) (string, *int64) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	var n int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", addr)
				if err != nil {
					return
				}
				defer s.Close()
				go func() { _, _ = io.Copy(s, c) }()
				_, _ = io.Copy(c, io.TeeReader(s, countWriter{&n}))
			}()
		}
	}()
	return ln.Addr().String(), &n
}

// countWriter counts the bytes written to it into n.
type countWriter struct{ n *int64 }

func (w countWriter) Write(p []byte) (int, error) {
	atomic.AddInt64(w.n, int64(len(p)))
	return len(p), nil
}

// faultName is the type of a fault, or "success" for none.
func faultName(fault interface{}) string {
	if fault == nil {
		return "success"
	}
	t := reflect.TypeOf(fault)
	if t.Kind() == reflect.Ptr {
		t = t.Elem()
	}
	return t.Name()
}

// The datastore's /folder endpoint as source, through a counting proxy,
// with the session cookie as header and the simulator's thumbprint.
func TestPullFromFolder(t *testing.T) {
	e := setup(t)
	data := bytes.Repeat([]byte("streamOptimized "), 64*1024) // 1 MiB
	if err := os.MkdirAll(filepath.Join(e.dsDir, "images"), 0700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(e.dsDir, "images/disk.vmdk"), data, 0600); err != nil {
		t.Fatal(err)
	}
	addr, counted := countingProxy(t, e.server.URL.Host)
	url := "https://" + addr + "/folder/images/disk.vmdk?dcPath=DC0&dsName=LocalDS_0"
	var cookie string
	for _, ck := range e.client.Client.Jar.Cookies(e.server.URL) {
		if ck.Name == soap.SessionCookieName {
			cookie = ck.String()
		}
	}
	thumbprint := soap.ThumbprintSHA1(e.server.Certificate())
	sum := sha256.Sum256(e.server.Certificate().Raw)
	source := func(size int64) types.HttpNfcLeaseSourceFile {
		return types.HttpNfcLeaseSourceFile{Url: url, SslThumbprint: thumbprint, Size: size,
			HttpHeaders: []types.KeyValue{{Key: "Cookie", Value: cookie}}}
	}

	cases := []struct {
		name string
		edit func(*types.HttpNfcLeaseSourceFile)
		want string
	}{
		{"known size", func(*types.HttpNfcLeaseSourceFile) {}, "success"},
		{"size from HEAD", func(f *types.HttpNfcLeaseSourceFile) { f.Size = 0 }, "success"},
		{"SHA-256 thumbprint", func(f *types.HttpNfcLeaseSourceFile) { f.SslThumbprint = hex.EncodeToString(sum[:]) }, "success"},
		{"no credential", func(f *types.HttpNfcLeaseSourceFile) { f.HttpHeaders = nil }, "HttpFault"},
		{"missing file", func(f *types.HttpNfcLeaseSourceFile) { f.Url += "x" }, "HttpFault"},
		{"wrong thumbprint", func(f *types.HttpNfcLeaseSourceFile) { f.SslThumbprint = "00:11" }, "SSLVerifyFault"},
		{"no thumbprint", func(f *types.HttpNfcLeaseSourceFile) { f.SslThumbprint = "" }, "SSLVerifyFault"},
		{"wrong size", func(f *types.HttpNfcLeaseSourceFile) { f.Size++ }, "SystemError"},
		{"unknown device", func(f *types.HttpNfcLeaseSourceFile) { f.TargetDeviceId = "nope" }, "InvalidArgument"},
	}
	for _, c := range cases {
		lease, key := e.importLease("vm-" + strconv.Itoa(len(c.name)))
		f := source(int64(len(data)))
		f.TargetDeviceId = key
		c.edit(&f)
		before := atomic.LoadInt64(counted)
		fault := e.pull(lease, f)
		if got := faultName(fault); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
		through := atomic.LoadInt64(counted) - before
		if c.want == "success" && through < int64(len(data)) {
			t.Errorf("%s: %d bytes through the proxy, want at least %d", c.name, through, len(data))
		}
		if ssl, ok := fault.(*types.SSLVerifyFault); ok && ssl.Thumbprint != thumbprint {
			t.Errorf("%s: fault names thumbprint %q, want the server's %q", c.name, ssl.Thumbprint, thumbprint)
		}
		if _, err := methods.HttpNfcLeaseAbort(e.ctx, e.client.Client, &types.HttpNfcLeaseAbort{This: lease}); err != nil {
			t.Fatal(err)
		}
	}
}

// An OVA from another server: memberName picks the disk out of the tar, the
// headers are sent, and the lease's state is honoured.
func TestPullFromArchive(t *testing.T) {
	e := setup(t)
	var ova bytes.Buffer
	tw := tar.NewWriter(&ova)
	disk := bytes.Repeat([]byte{1, 2, 3, 4}, 100000)
	for _, m := range []struct {
		name string
		body []byte
	}{{"appliance.ovf", []byte("<Envelope/>")}, {"appliance-disk1.vmdk", disk}} {
		_ = tw.WriteHeader(&tar.Header{Name: m.name, Mode: 0600, Size: int64(len(m.body))})
		_, _ = tw.Write(m.body)
	}
	_ = tw.Close()

	var token atomic.Value
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token.Store(r.Header.Get("X-Auth-Token"))
		switch r.URL.Path {
		case "/appliance.ova":
			_, _ = w.Write(ova.Bytes())
		case "/truncated.ova":
			_, _ = w.Write(ova.Bytes()[:ova.Len()/2])
		case "/slow.ova":
			w.(http.Flusher).Flush()
			_, _ = w.Write(ova.Bytes()[:ova.Len()/2])
			w.(http.Flusher).Flush()
			started <- struct{}{}
			<-release
			_, _ = w.Write(ova.Bytes()[ova.Len()/2:])
		default:
			http.Error(w, "forbidden", http.StatusForbidden)
		}
	}))
	defer srv.Close()
	thumbprint := soap.ThumbprintSHA1(srv.Certificate())
	source := func(key, path, member string) types.HttpNfcLeaseSourceFile {
		return types.HttpNfcLeaseSourceFile{TargetDeviceId: key, Url: srv.URL + path, MemberName: member,
			SslThumbprint: thumbprint, HttpHeaders: []types.KeyValue{{Key: "X-Auth-Token", Value: "secret"}}}
	}
	abort := func(lease types.ManagedObjectReference) {
		_, _ = methods.HttpNfcLeaseAbort(e.ctx, e.client.Client, &types.HttpNfcLeaseAbort{This: lease})
	}

	for _, c := range []struct{ path, member, want string }{
		{"/appliance.ova", "appliance-disk1.vmdk", "success"},
		{"/appliance.ova", "./appliance-disk1.vmdk", "success"},
		{"/appliance.ova", "other.vmdk", "FileNotFound"},
		{"/truncated.ova", "appliance-disk1.vmdk", "SystemError"},
		{"/denied.ova", "appliance-disk1.vmdk", "HttpFault"},
	} {
		token.Store("")
		lease, key := e.importLease("ova")
		if got := faultName(e.pull(lease, source(key, c.path, c.member))); got != c.want {
			t.Errorf("%s %s: %s, want %s", c.path, c.member, got, c.want)
		}
		if token.Load() != "secret" {
			t.Errorf("%s: header not sent", c.path)
		}
		abort(lease)
	}

	// Aborting the lease fails a pull under way.
	lease, key := e.importLease("aborted")
	res, err := methods.HttpNfcLeasePullFromUrls_Task(e.ctx, e.client.Client,
		&types.HttpNfcLeasePullFromUrls_Task{This: lease, Files: []types.HttpNfcLeaseSourceFile{source(key, "/slow.ova", "appliance-disk1.vmdk")}})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	abort(lease)
	close(release)
	if got := faultName(e.taskFault(res.Returnval)); got != "InvalidState" {
		t.Errorf("pull under an aborted lease: %s, want InvalidState", got)
	}

	// A completed lease takes no pull.
	lease, key = e.importLease("done")
	if _, err = methods.HttpNfcLeaseComplete(e.ctx, e.client.Client, &types.HttpNfcLeaseComplete{This: lease}); err != nil {
		t.Fatal(err)
	}
	if fault := e.pull(lease, source(key, "/appliance.ova", "appliance-disk1.vmdk")); fault == nil {
		t.Error("pull under a completed lease succeeded")
	}
}
