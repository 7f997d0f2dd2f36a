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
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// 0024: NFC imports (upload or pull) stored on the datastore, all or
// nothing; streamOptimized VMDKs stored as a descriptor and a flat extent.

const mib = 1 << 20

// streamDisk is the raw disk of testdata/stream.vmdk (made by
// testdata/make_stream_vmdk.py with qemu-img; keep both in step).
func streamDisk() []byte {
	size := 40*mib + 4096
	disk := make([]byte, size)
	pattern := make([]byte, 200*1024)
	for i := range pattern {
		pattern[i] = byte(i % 251)
	}
	for _, p := range []struct {
		offset int
		data   []byte
	}{
		{0, []byte("BOOT SECTOR")},
		{mib - 6, []byte("STRADDLES A GRAIN")},
		{2 * mib, pattern},
		{33 * mib, []byte("SECOND GRAIN TABLE")},
		{size - 16, []byte("END OF THE DISK!")},
	} {
		copy(disk[p.offset:], p.data)
	}
	return disk
}

func streamVector(t *testing.T) []byte {
	b, err := os.ReadFile("testdata/stream.vmdk")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// nfcURL is the upload URL of the lease's disk.
func (e *env) nfcURL(lease types.ManagedObjectReference) string {
	e.t.Helper()
	var l mo.HttpNfcLease
	if err := property.DefaultCollector(e.client.Client).RetrieveOne(e.ctx, lease, []string{"info"}, &l); err != nil {
		e.t.Fatal(err)
	}
	for _, u := range l.Info.DeviceUrl {
		if u.Disk != nil && *u.Disk {
			return strings.Replace(u.Url, "*", e.server.URL.Host, 1)
		}
	}
	e.t.Fatal("no disk URL")
	return ""
}

// upload PUTs body to url as oslo.vmware's VmdkWriteHandle does, declaring
// length bytes (the body may be shorter: a cut connection).
func upload(t *testing.T, url string, body []byte, length int) int {
	t.Helper()
	req, _ := http.NewRequest("PUT", url, io.NopCloser(bytes.NewReader(body)))
	req.ContentLength = int64(length)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	res, err := hc.Do(req)
	if err != nil {
		return 0
	}
	res.Body.Close()
	return res.StatusCode
}

// vmFiles lists the VM's directory: name -> size.
func (e *env) vmFiles(vm string) map[string]int64 {
	e.t.Helper()
	entries, err := os.ReadDir(filepath.Join(e.dsDir, vm))
	if err != nil {
		e.t.Fatal(err)
	}
	files := make(map[string]int64)
	for _, entry := range entries {
		info, _ := entry.Info()
		files[entry.Name()] = info.Size()
	}
	return files
}

// unimported checks that vm's disk is still the empty one ImportVApp made,
// with nothing received left beside it, unless pending (the lease is not
// over yet).
func (e *env) unimported(what, vm string, pending ...bool) {
	e.t.Helper()
	want := map[string]int64{vm + ".vmdk": 0, vm + "-flat.vmdk": 0}
	for name, size := range e.vmFiles(vm) {
		if strings.HasSuffix(name, ".vmdk") {
			if w, ok := want[name]; !ok || w != size {
				e.t.Errorf("%s: %s has %d bytes", what, name, size)
			}
		} else if len(pending) != 0 && strings.HasSuffix(name, ".nfc") {
			continue
		} else if !strings.HasSuffix(name, ".vmx") && !strings.HasSuffix(name, ".log") && !strings.HasSuffix(name, ".nvram") {
			e.t.Errorf("%s: left %s (%d bytes)", what, name, size)
		}
	}
}

// imported checks that vm's disk is a descriptor and a flat extent of disk.
func (e *env) imported(what, vm string, disk []byte) {
	e.t.Helper()
	dir := filepath.Join(e.dsDir, vm)
	desc, err := os.ReadFile(filepath.Join(dir, vm+".vmdk"))
	if err != nil {
		e.t.Fatal(err)
	}
	extent := fmt.Sprintf("RW %d VMFS \"%s-flat.vmdk\"\n", (len(disk)+511)/512, vm)
	if !strings.HasPrefix(string(desc), "# Disk DescriptorFile\n") || !strings.Contains(string(desc), extent) {
		e.t.Errorf("%s: descriptor %q, want extent %q", what, desc, extent)
	}
	flat, err := os.ReadFile(filepath.Join(dir, vm+"-flat.vmdk"))
	if err != nil {
		e.t.Fatal(err)
	}
	if len(flat) != len(disk) {
		e.t.Errorf("%s: flat extent of %d bytes, want %d", what, len(flat), len(disk))
	} else if !bytes.Equal(flat, disk) {
		for i := range flat {
			if flat[i] != disk[i] {
				e.t.Errorf("%s: flat extent differs from byte %d", what, i)
				break
			}
		}
	}
	for name := range e.vmFiles(vm) {
		if strings.HasSuffix(name, ".nfc") {
			e.t.Errorf("%s: left %s", what, name)
		}
	}
}

func (e *env) complete(lease types.ManagedObjectReference) {
	e.t.Helper()
	if _, err := methods.HttpNfcLeaseComplete(e.ctx, e.client.Client, &types.HttpNfcLeaseComplete{This: lease}); err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) abort(lease types.ManagedObjectReference) {
	e.t.Helper()
	if _, err := methods.HttpNfcLeaseAbort(e.ctx, e.client.Client, &types.HttpNfcLeaseAbort{This: lease}); err != nil {
		e.t.Fatal(err)
	}
}

// The NFC upload Nova and Cinder do today, of qemu-img's streamOptimized
// VMDK and of flat bytes; cut short, corrupt or aborted, it leaves nothing.
func TestUploadStored(t *testing.T) {
	e := setup(t)
	stream, disk := streamVector(t), streamDisk()

	lease, _ := e.importLease("stream")
	if status := upload(t, e.nfcURL(lease), stream, len(stream)); status != 200 {
		t.Fatalf("upload: %d", status)
	}
	e.unimported("before HttpNfcLeaseComplete", "stream", true)
	e.complete(lease)
	e.imported("streamOptimized upload", "stream", disk)

	// vSphere can copy it, browse it, serve it.
	dm := object.NewVirtualDiskManager(e.client.Client)
	task, err := dm.CopyVirtualDisk(e.ctx, "[LocalDS_0] stream/stream.vmdk", e.dc, "[LocalDS_0] stream/copy.vmdk", e.dc, nil, false)
	if _, err = e.wait(task.Reference(), err); err != nil {
		t.Fatal(err)
	}
	if flat, _ := os.ReadFile(filepath.Join(e.dsDir, "stream/copy-flat.vmdk")); !bytes.Equal(flat, disk) {
		t.Error("the copy's flat extent differs")
	}

	// Older qemu-img streams end without the end-of-stream marker (the
	// vector's last sector).
	noEOS := stream[:len(stream)-512]
	lease, _ = e.importLease("noeos")
	if status := upload(t, e.nfcURL(lease), noEOS, len(noEOS)); status != 200 {
		t.Fatalf("upload without end-of-stream marker: %d", status)
	}
	e.complete(lease)
	e.imported("streamOptimized upload without end-of-stream marker", "noeos", disk)

	flatBytes := bytes.Repeat([]byte("flat"), 1000)
	lease, _ = e.importLease("flat")
	if status := upload(t, e.nfcURL(lease), flatBytes, len(flatBytes)); status != 200 {
		t.Fatalf("flat upload: %d", status)
	}
	e.complete(lease)
	e.imported("flat upload", "flat", append(flatBytes, make([]byte, 96)...))

	corrupt := append([]byte(nil), stream...)
	copy(corrupt[len(corrupt)/2:], bytes.Repeat([]byte{0xff}, 64))
	for _, c := range []struct {
		name   string
		body   []byte
		length int
	}{
		{"short", stream[:len(stream)/2], len(stream)},
		{"corrupt", corrupt, len(corrupt)},
		{"truncated grain", stream[:4096], 4096},
	} {
		lease, _ = e.importLease(c.name)
		if status := upload(t, e.nfcURL(lease), c.body, c.length); status == 200 {
			t.Errorf("%s upload: %d", c.name, status)
		}
		e.complete(lease)
		e.unimported(c.name+" upload", c.name)
	}

	lease, _ = e.importLease("aborted")
	if status := upload(t, e.nfcURL(lease), stream, len(stream)); status != 200 {
		t.Fatalf("upload: %d", status)
	}
	e.abort(lease)
	e.unimported("aborted after upload", "aborted")
}

// The host pulls the streamOptimized VMDK from the datastore with a ticket.
func TestPullStored(t *testing.T) {
	e := setup(t)
	stream, disk := streamVector(t), streamDisk()
	url := e.writeImage("images/stream.vmdk", stream)
	source := func(key string) types.HttpNfcLeaseSourceFile {
		ticket, err := e.ticket("httpGet", url)
		if err != nil {
			t.Fatal(err)
		}
		return ticketSource(ticket, key, url, int64(len(stream)))
	}

	lease, key := e.importLease("pulled")
	if fault := e.pull(lease, source(key)); fault != nil {
		t.Fatalf("pull: %s", faultName(fault))
	}
	e.unimported("pulled, before HttpNfcLeaseComplete", "pulled", true)
	if _, err := methods.HttpNfcLeaseProgress(e.ctx, e.client.Client, &types.HttpNfcLeaseProgress{This: lease, Percent: 100}); err != nil {
		t.Fatal(err)
	}
	e.complete(lease)
	e.imported("pull", "pulled", disk)

	// A failed pull (wrong size) leaves nothing, even once the lease completes.
	lease, key = e.importLease("wrongsize")
	f := source(key)
	f.Size--
	if got := faultName(e.pull(lease, f)); got != "SystemError" {
		t.Errorf("pull of the wrong size: %s", got)
	}
	e.complete(lease)
	e.unimported("failed pull", "wrongsize")

	// A pull aborted under way stops, and leaves nothing once Abort returns.
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	slow := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write(stream[:len(stream)/2])
		w.(http.Flusher).Flush()
		started <- struct{}{}
		<-release
		_, _ = w.Write(stream[len(stream)/2:])
	}))
	defer slow.Close()
	defer close(release) // before slow.Close, which waits for its handler
	lease, key = e.importLease("abortpull")
	res, err := methods.HttpNfcLeasePullFromUrls_Task(e.ctx, e.client.Client, &types.HttpNfcLeasePullFromUrls_Task{
		This: lease, Files: []types.HttpNfcLeaseSourceFile{{TargetDeviceId: key, Url: slow.URL + "/stream.vmdk",
			Size: int64(len(stream)), SslThumbprint: soap.ThumbprintSHA1(slow.Certificate())}}})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	e.abort(lease)
	e.unimported("pull aborted under way", "abortpull")
	if got := faultName(e.taskFault(res.Returnval)); got != "InvalidState" {
		t.Errorf("aborted pull: %s, want InvalidState", got)
	}
}
