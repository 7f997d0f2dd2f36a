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

// Package simtest checks the govmomi simulator patches in
// tests/vcsim/patches. Run with `python -m tests.vcsim.build --go-test`.
package simtest

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vmware/govmomi"
	"github.com/vmware/govmomi/find"
	"github.com/vmware/govmomi/object"
	"github.com/vmware/govmomi/property"
	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/mo"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
	"github.com/vmware/govmomi/vim25/xml"
)

type env struct {
	t      *testing.T
	ctx    context.Context
	model  *simulator.Model
	server *simulator.Server
	client *govmomi.Client
	dc     *object.Datacenter
	ds     *object.Datastore
	dsDir  string
}

func setup(t *testing.T) *env {
	t.Helper()
	ctx := context.Background()
	m := simulator.VPX()
	m.ClusterHost = 2
	m.Host = 0
	m.Datastore = 2
	m.Machine = 0
	if err := m.Create(); err != nil {
		t.Fatal(err)
	}
	m.Service.TLS = new(tls.Config)
	s := m.Service.NewServer()
	c, err := govmomi.NewClient(ctx, s.URL, true)
	if err != nil {
		t.Fatal(err)
	}
	finder := find.NewFinder(c.Client, false)
	dc, err := finder.Datacenter(ctx, "DC0")
	if err != nil {
		t.Fatal(err)
	}
	finder.SetDatacenter(dc)
	ds, err := finder.Datastore(ctx, "LocalDS_0")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, ctx: ctx, model: m, server: s, client: c, dc: dc, ds: ds}
	e.dsDir = simulator.Map.Get(ds.Reference()).(*simulator.Datastore).Info.GetDatastoreInfo().Url
	t.Cleanup(func() {
		_ = c.Logout(ctx)
		s.Close()
		m.Remove()
	})
	return e
}

func (e *env) wait(ref types.ManagedObjectReference, err error) (*types.TaskInfo, error) {
	if err != nil {
		return nil, err
	}
	return object.NewTask(e.client.Client, ref).WaitForResult(e.ctx, nil)
}

// (a) TraversalSpec.type is honoured and recursive specs terminate.
func TestRecursiveTraversal(t *testing.T) {
	e := setup(t)
	c := e.client.Client
	// oslo.vmware's build_recursive_traversal_spec
	ts := func(name, typ, path string, sel ...string) *types.TraversalSpec {
		var ss []types.BaseSelectionSpec
		for _, n := range sel {
			ss = append(ss, &types.SelectionSpec{Name: n})
		}
		return &types.TraversalSpec{SelectionSpec: types.SelectionSpec{Name: name}, Type: typ, Path: path, Skip: types.NewBool(false), SelectSet: ss}
	}
	specs := []types.BaseSelectionSpec{
		ts("rpToRp", "ResourcePool", "resourcePool", "rpToRp", "rpToVm"),
		ts("rpToVm", "ResourcePool", "vm"),
		ts("dcToHf", "Datacenter", "hostFolder", "visitFolders"),
		ts("dcToVmf", "Datacenter", "vmFolder", "visitFolders"),
		ts("dcToDs", "Datacenter", "datastore", "visitFolders"),
		ts("hToVm", "HostSystem", "vm", "visitFolders"),
		ts("crToH", "ComputeResource", "host"),
		ts("crToRp", "ComputeResource", "resourcePool", "rpToRp", "rpToVm"),
		ts("visitFolders", "Folder", "childEntity", "visitFolders", "dcToVmf", "dcToDs", "dcToHf", "crToH", "crToRp", "hToVm", "rpToVm"),
	}
	req := types.RetrievePropertiesEx{
		This: c.ServiceContent.PropertyCollector,
		SpecSet: []types.PropertyFilterSpec{{
			ObjectSet: []types.ObjectSpec{{Obj: c.ServiceContent.RootFolder, SelectSet: specs}},
			PropSet:   []types.PropertySpec{{Type: "ClusterComputeResource", PathSet: []string{"name"}}},
		}},
	}
	done := make(chan error, 1)
	var res *types.RetrievePropertiesExResponse
	go func() {
		var err error
		res, err = methods.RetrievePropertiesEx(e.ctx, c, &req)
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("RetrievePropertiesEx did not terminate")
	}
	if res.Returnval == nil || len(res.Returnval.Objects) != 1 {
		t.Fatalf("expected 1 cluster, got %#v", res.Returnval)
	}

	// A spec for another type must not be applied: Datacenter.hostFolder via a
	// "ComputeResource" typed spec yields nothing.
	req.SpecSet[0].ObjectSet = []types.ObjectSpec{{Obj: e.dc.Reference(), Skip: types.NewBool(true),
		SelectSet: []types.BaseSelectionSpec{ts("bogus", "ComputeResource", "hostFolder")}}}
	req.SpecSet[0].PropSet = []types.PropertySpec{{Type: "Folder", PathSet: []string{"name"}}}
	res, err := methods.RetrievePropertiesEx(e.ctx, c, &req)
	if err != nil {
		t.Fatal(err)
	}
	if res.Returnval != nil && len(res.Returnval.Objects) != 0 {
		t.Fatalf("type mismatch spec was applied: %#v", res.Returnval.Objects)
	}
}

// (b) ExtensionManager
func TestExtensionManager(t *testing.T) {
	e := setup(t)
	c := e.client.Client
	em := *c.ServiceContent.ExtensionManager
	find := func() *types.Extension {
		res, err := methods.FindExtension(e.ctx, c, &types.FindExtension{This: em, ExtensionKey: "org.openstack.compute"})
		if err != nil {
			t.Fatal(err)
		}
		return res.Returnval
	}
	if find() != nil {
		t.Fatal("unexpected extension")
	}
	ext := types.Extension{Key: "org.openstack.compute", Version: "1.0",
		Description: &types.Description{Label: "OpenStack", Summary: "OpenStack services"}}
	if _, err := methods.RegisterExtension(e.ctx, c, &types.RegisterExtension{This: em, Extension: ext}); err != nil {
		t.Fatal(err)
	}
	if x := find(); x == nil || x.Version != "1.0" {
		t.Fatalf("FindExtension: %#v", x)
	}
	if _, err := methods.UnregisterExtension(e.ctx, c, &types.UnregisterExtension{This: em, ExtensionKey: ext.Key}); err != nil {
		t.Fatal(err)
	}
	if find() != nil {
		t.Fatal("extension not unregistered")
	}
}

// (c) and (e): decoder leniency.
func TestDecoder(t *testing.T) {
	var v struct {
		T time.Time `xml:"t"`
		L int64     `xml:"l"`
		I int32     `xml:"i"`
	}
	doc := `<x><t>2021-03-04T05:06:07.5</t><l>1024.0</l><i>7.0</i></x>`
	if err := xml.Unmarshal([]byte(doc), &v); err != nil {
		t.Fatal(err)
	}
	want := time.Date(2021, 3, 4, 5, 6, 7, 500000000, time.UTC)
	if !v.T.Equal(want) || v.L != 1024 || v.I != 7 {
		t.Fatalf("decoded %#v", v)
	}
	for _, bad := range []string{`<x><l>1.5</l></x>`, `<x><i>3000000000.0</i></x>`, `<x><t>yesterday</t></x>`} {
		if err := xml.Unmarshal([]byte(bad), &v); err == nil {
			t.Errorf("%s: expected an error", bad)
		}
	}
}

// (d) + shared local datastores
func TestDatastores(t *testing.T) {
	e := setup(t)
	var dss []mo.Datastore
	pc := property.DefaultCollector(e.client.Client)
	finder := find.NewFinder(e.client.Client, false)
	finder.SetDatacenter(e.dc)
	list, err := finder.DatastoreList(e.ctx, "*")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 {
		t.Fatalf("expected 2 datastores, got %d", len(list))
	}
	var refs []types.ManagedObjectReference
	for _, ds := range list {
		refs = append(refs, ds.Reference())
	}
	if err = pc.Retrieve(e.ctx, refs, []string{"summary", "info", "host"}, &dss); err != nil {
		t.Fatal(err)
	}
	for _, ds := range dss {
		if ds.Summary.Type != "VMFS" {
			t.Errorf("%s: summary.type %s", ds.Summary.Name, ds.Summary.Type)
		}
		info, ok := ds.Info.(*types.VmfsDatastoreInfo)
		if !ok || info.Vmfs == nil || info.Vmfs.Type != "VMFS" {
			t.Errorf("%s: info %#v", ds.Summary.Name, ds.Info)
		}
		if len(ds.Host) != 2 {
			t.Errorf("%s: %d host mounts, want 2", ds.Summary.Name, len(ds.Host))
		}
	}
	folders, _ := e.dc.Folders(e.ctx)
	var f mo.Folder
	if err = pc.RetrieveOne(e.ctx, folders.DatastoreFolder.Reference(), []string{"childEntity"}, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.ChildEntity) != 2 {
		t.Errorf("datastore folder children: %v", f.ChildEntity)
	}
}

// (f), (g), (h): datastore browser and disk manager
func TestDiskManagerAndBrowser(t *testing.T) {
	e := setup(t)
	c := e.client.Client
	dcRef := e.dc.Reference()
	vdm := *c.ServiceContent.VirtualDiskManager
	if err := object.NewFileManager(c).MakeDirectory(e.ctx, "[LocalDS_0] img", e.dc, true); err != nil {
		t.Fatal(err)
	}
	spec := &types.FileBackedVirtualDiskSpec{
		VirtualDiskSpec: types.VirtualDiskSpec{DiskType: "thin", AdapterType: "lsiLogic"},
		CapacityKb:      1024,
	}
	res, err := methods.CreateVirtualDisk_Task(e.ctx, c, &types.CreateVirtualDisk_Task{This: vdm, Name: "[LocalDS_0] img/a.vmdk", Datacenter: &dcRef, Spec: spec})
	if _, err = e.wait(res.Returnval, err); err != nil {
		t.Fatal(err)
	}
	// (g) no destDatacenter
	cres, err := methods.CopyVirtualDisk_Task(e.ctx, c, &types.CopyVirtualDisk_Task{This: vdm, SourceName: "[LocalDS_0] img/a.vmdk", SourceDatacenter: &dcRef, DestName: "[LocalDS_0] img/b.vmdk"})
	if _, err = e.wait(cres.Returnval, err); err != nil {
		t.Fatal(err)
	}
	// (h) extend, and a text descriptor
	desc := "# Disk DescriptorFile\nversion=1\ncreateType=\"vmfs\"\n\nRW 2048 VMFS \"b-flat.vmdk\"\n\nddb.adapterType = \"lsilogic\"\n"
	if err = os.WriteFile(filepath.Join(e.dsDir, "img/b.vmdk"), []byte(desc), 0600); err != nil {
		t.Fatal(err)
	}
	xres, err := methods.ExtendVirtualDisk_Task(e.ctx, c, &types.ExtendVirtualDisk_Task{This: vdm, Name: "[LocalDS_0] img/b.vmdk", Datacenter: &dcRef, NewCapacityKb: 4096})
	if _, err = e.wait(xres.Returnval, err); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(e.dsDir, "img/b-flat.vmdk"))
	if err != nil || st.Size() != 4096*1024 {
		t.Fatalf("flat after extend: %v %v", st, err)
	}
	got, _ := os.ReadFile(filepath.Join(e.dsDir, "img/b.vmdk"))
	if !strings.Contains(string(got), "RW 8192 VMFS \"b-flat.vmdk\"") {
		t.Fatalf("descriptor after extend:\n%s", got)
	}
	xres, err = methods.ExtendVirtualDisk_Task(e.ctx, c, &types.ExtendVirtualDisk_Task{This: vdm, Name: "[LocalDS_0] img/b.vmdk", Datacenter: &dcRef, NewCapacityKb: 1024})
	if _, err = e.wait(xres.Returnval, err); err == nil {
		t.Fatal("shrinking a disk succeeded")
	}
	// (f) no searchSpec
	var ds mo.Datastore
	if err = e.ds.Properties(e.ctx, e.ds.Reference(), []string{"browser"}, &ds); err != nil {
		t.Fatal(err)
	}
	sres, err := methods.SearchDatastore_Task(e.ctx, c, &types.SearchDatastore_Task{This: ds.Browser, DatastorePath: "[LocalDS_0] img"})
	info, err := e.wait(sres.Returnval, err)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(info.Result.(types.HostDatastoreBrowserSearchResults).File); n != 4 {
		t.Fatalf("search found %d files, want 4", n)
	}
	ssres, err := methods.SearchDatastoreSubFolders_Task(e.ctx, c, &types.SearchDatastoreSubFolders_Task{This: ds.Browser, DatastorePath: "[LocalDS_0]"})
	if _, err = e.wait(ssres.Returnval, err); err != nil {
		t.Fatal(err)
	}
}

// (i) DuplicateName.object is the existing object; (j) indexed property paths.
func TestDuplicateNameAndIndexedPath(t *testing.T) {
	e := setup(t)
	c := e.client.Client
	folders, _ := e.dc.Folders(e.ctx)
	f, err := folders.VmFolder.CreateFolder(e.ctx, "OpenStack")
	if err != nil {
		t.Fatal(err)
	}
	_, err = folders.VmFolder.CreateFolder(e.ctx, "OpenStack")
	fault, ok := soap.ToSoapFault(err).VimFault().(types.DuplicateName)
	if !ok || fault.Object != f.Reference() {
		t.Fatalf("DuplicateName: %#v (%v), want object %s", fault, err, f.Reference())
	}

	finder := find.NewFinder(c, false)
	finder.SetDatacenter(e.dc)
	pool, err := finder.DefaultResourcePool(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	spec := types.VirtualMachineConfigSpec{Name: "vm-x", GuestId: "otherGuest",
		Files:       &types.VirtualMachineFileInfo{VmPathName: "[LocalDS_0]"},
		ExtraConfig: []types.BaseOptionValue{&types.OptionValue{Key: "nvp.vm-uuid", Value: "1234"}, &types.OptionValue{Key: "other", Value: "x"}}}
	tk, err := f.CreateVM(e.ctx, spec, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	info, err := tk.WaitForResult(e.ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	vm := info.Result.(types.ManagedObjectReference)
	pc := property.DefaultCollector(c)
	req := types.RetrieveProperties{This: pc.Reference(), SpecSet: []types.PropertyFilterSpec{{
		ObjectSet: []types.ObjectSpec{{Obj: vm}},
		PropSet:   []types.PropertySpec{{Type: "VirtualMachine", PathSet: []string{`config.extraConfig["nvp.vm-uuid"]`, `config.extraConfig["missing"]`}}},
	}}}
	res, err := methods.RetrieveProperties(e.ctx, c, &req)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Returnval) != 1 || len(res.Returnval[0].PropSet) != 1 {
		t.Fatalf("unexpected result %#v", res.Returnval)
	}
	p := res.Returnval[0].PropSet[0]
	var value interface{}
	switch ov := p.Val.(type) {
	case types.OptionValue:
		value = ov.Value
	case *types.OptionValue:
		value = ov.Value
	}
	if p.Name != `config.extraConfig["nvp.vm-uuid"]` || value != "1234" {
		t.Fatalf("unexpected property %#v", p)
	}
}

// (k)-(n) datastore HTTP access
func TestFolderHTTP(t *testing.T) {
	e := setup(t)
	base := *e.server.URL
	base.User = nil
	base.Path = "/folder/dir/sub/file.bin"
	base.RawQuery = "dcPath=DC0&dsName=LocalDS_0"
	u := base.String()

	var cookie *http.Cookie
	for _, ck := range e.client.Client.Jar.Cookies(e.server.URL) {
		if ck.Name == soap.SessionCookieName {
			cookie = ck
		}
	}
	if cookie == nil {
		t.Fatal("no session cookie")
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	do := func(method, url string, body io.Reader, withCookie bool, hdr ...string) *http.Response {
		req, _ := http.NewRequest(method, url, body)
		if withCookie {
			req.AddCookie(cookie)
		}
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		res.Body = io.NopCloser(bytes.NewReader(b))
		return res
	}
	expect := func(res *http.Response, code int, what string) {
		t.Helper()
		if res.StatusCode != code {
			t.Errorf("%s: status %d, want %d", what, res.StatusCode, code)
		}
	}
	file := filepath.Join(e.dsDir, "dir/sub/file.bin")

	expect(do("GET", u, nil, false), 401, "GET without cookie")
	expect(do("PUT", u, strings.NewReader("x"), false), 401, "PUT without cookie")
	expect(do("PUT", u, strings.NewReader("hello world"), true), 201, "PUT new")
	expect(do("PUT", u, strings.NewReader("HELLO WORLD"), true), 200, "PUT overwrite")
	res := do("GET", u, nil, true, "Range", "bytes=6-10")
	expect(res, 206, "GET range")
	if b, _ := io.ReadAll(res.Body); string(b) != "WORLD" {
		t.Errorf("range body %q", b)
	}
	expect(do("HEAD", u, nil, true), 200, "HEAD")
	expect(do("GET", strings.Replace(u, "file.bin", "nope", 1), nil, true), 404, "GET missing")
	expect(do("GET", strings.Replace(u, "LocalDS_0", "LocalDS_9", 1), nil, true), 404, "GET bad dsName")
	expect(do("GET", strings.Replace(u, "DC0", "DC9", 1), nil, true), 404, "GET bad dcPath")

	// A PUT cut short must not leave a partial file nor truncate the old one.
	conn, err := tls.Dial("tcp", e.server.URL.Host, &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "PUT %s HTTP/1.1\r\nHost: %s\r\nCookie: %s=%s\r\nContent-Length: 1000\r\n\r\npartial", base.RequestURI(), e.server.URL.Host, cookie.Name, cookie.Value)
	_ = conn.CloseWrite()
	time.Sleep(200 * time.Millisecond)
	conn.Close()
	time.Sleep(200 * time.Millisecond)
	if b, _ := os.ReadFile(file); string(b) != "HELLO WORLD" {
		t.Errorf("after a short PUT the file holds %q", b)
	}
	entries, _ := os.ReadDir(filepath.Dir(file))
	if len(entries) != 1 {
		t.Errorf("leftover files after short PUT: %v", entries)
	}
	newURL := strings.Replace(u, "file.bin", "new.bin", 1)
	expect(do("DELETE", u, nil, true), 204, "DELETE")
	expect(do("DELETE", u, nil, true), 404, "DELETE again")
	expect(do("GET", newURL, nil, true), 404, "GET never written")
	expect(do("PATCH", u, nil, true), 405, "PATCH")

	// generic service ticket
	tres, err := methods.AcquireGenericServiceTicket(e.ctx, e.client.Client, &types.AcquireGenericServiceTicket{
		This: *e.client.Client.ServiceContent.SessionManager,
		Spec: &types.SessionManagerHttpServiceRequestSpec{Method: "httpPut", Url: u}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("PUT", u, strings.NewReader("t"))
	req.AddCookie(&http.Cookie{Name: "vmware_cgi_ticket", Value: tres.Returnval.Id})
	tr, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	tr.Body.Close()
	expect(tr, 201, "PUT with service ticket")

	_ = e.client.Logout(e.ctx)
	expect(do("GET", u, nil, true), 401, "GET after logout")
}
