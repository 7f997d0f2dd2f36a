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
	"crypto/tls"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vmware/govmomi/simulator"
	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/soap"
	"github.com/vmware/govmomi/vim25/types"
)

// 0023: one-time generic service tickets bound to a URL and a method.

func (e *env) ticket(method, url string) (types.SessionManagerGenericServiceTicket, error) {
	res, err := methods.AcquireGenericServiceTicket(e.ctx, e.client.Client, &types.AcquireGenericServiceTicket{
		This: *e.client.Client.ServiceContent.SessionManager,
		Spec: &types.SessionManagerHttpServiceRequestSpec{Method: method, Url: url}})
	if err != nil {
		return types.SessionManagerGenericServiceTicket{}, err
	}
	return res.Returnval, nil
}

// writeImage puts data at path on LocalDS_0 and returns its /folder URL.
func (e *env) writeImage(path string, data []byte) string {
	e.t.Helper()
	file := filepath.Join(e.dsDir, path)
	if err := os.MkdirAll(filepath.Dir(file), 0700); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(file, data, 0600); err != nil {
		e.t.Fatal(err)
	}
	return e.server.URL.Scheme + "://" + e.server.URL.Host + "/folder/" + path + "?dcPath=DC0&dsName=LocalDS_0"
}

func TestGenericServiceTicket(t *testing.T) {
	e := setup(t)
	url := e.writeImage("images/ticket.vmdk", []byte("IMAGE"))
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	// do sends a request with the ticket cookie only (no session).
	do := func(method, url, id string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, url, nil)
		req.AddCookie(&http.Cookie{Name: "vmware_cgi_ticket", Value: id})
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	acquire := func(method, url string) string {
		t.Helper()
		ticket, err := e.ticket(method, url)
		if err != nil {
			t.Fatal(err)
		}
		return ticket.Id
	}

	ticket, err := e.ticket("httpGet", url)
	if err != nil {
		t.Fatal(err)
	}
	if want := soap.ThumbprintSHA1(e.server.Certificate()); ticket.SslThumbprint != want || ticket.HostName == "" {
		t.Errorf("ticket names host %q thumbprint %q, want the server's %q", ticket.HostName, ticket.SslThumbprint, want)
	}
	// Refused for anything but its URL and method, without being used up.
	other := strings.Replace(url, "ticket.vmdk", "other.vmdk", 1)
	for _, c := range []struct{ method, url string }{
		{"GET", other},
		{"GET", strings.Replace(url, "LocalDS_0", "LocalDS_1", 1)},
		{"GET", strings.Split(url, "?")[0]},
		{"HEAD", url},
		{"PUT", url},
		{"DELETE", url},
	} {
		if status, _ := do(c.method, c.url, ticket.Id); status != http.StatusForbidden {
			t.Errorf("%s %s with a ticket for GET %s: %d, want 403", c.method, c.url, url, status)
		}
	}
	if status, body := do("GET", url, ticket.Id); status != http.StatusOK || body != "IMAGE" {
		t.Errorf("GET with its ticket: %d %q", status, body)
	}
	if status, _ := do("GET", url, ticket.Id); status != http.StatusUnauthorized {
		t.Errorf("GET with a used ticket: %d, want 401", status)
	}
	if status, _ := do("GET", url, "made-up"); status != http.StatusUnauthorized {
		t.Errorf("GET with an unknown ticket: %d, want 401", status)
	}
	// The host name is not part of what the ticket is bound to.
	if status, _ := do("GET", strings.Replace(url, e.server.URL.Host, "localhost:"+e.server.URL.Port(), 1), acquire("httpGet", url)); status != http.StatusOK {
		t.Errorf("GET by another host name: %d", status)
	}
	if status, _ := do("HEAD", url, acquire("httpHead", url)); status != http.StatusOK {
		t.Errorf("HEAD with a HEAD ticket: %d", status)
	}
	// oslo.vmware asks with the bare method (Nova's upload to an ESX host).
	if status, _ := do("PUT", url, acquire("PUT", url)); status == http.StatusUnauthorized || status == http.StatusForbidden {
		t.Errorf("PUT with a ticket for \"PUT\": %d", status)
	}

	// Expired tickets are refused.
	defer func(d time.Duration) { simulator.GenericServiceTicketLifetime = d }(simulator.GenericServiceTicketLifetime)
	simulator.GenericServiceTicketLifetime = 100 * time.Millisecond
	id := acquire("httpGet", url)
	time.Sleep(300 * time.Millisecond)
	if status, _ := do("GET", url, id); status != http.StatusUnauthorized {
		t.Errorf("GET with an expired ticket: %d, want 401", status)
	}

	// Only HTTP tickets with a known method and a URL.
	for _, spec := range []types.BaseSessionManagerServiceRequestSpec{
		&types.SessionManagerVmomiServiceRequestSpec{Method: "RetrieveContent"},
		&types.SessionManagerHttpServiceRequestSpec{Method: "httpGet"},
		&types.SessionManagerHttpServiceRequestSpec{Method: "httpBrew", Url: url},
	} {
		_, err := methods.AcquireGenericServiceTicket(e.ctx, e.client.Client, &types.AcquireGenericServiceTicket{
			This: *e.client.Client.ServiceContent.SessionManager, Spec: spec})
		if !soap.IsSoapFault(err) {
			t.Errorf("%#v: %v, want InvalidArgument", spec, err)
		} else if _, ok := soap.ToSoapFault(err).VimFault().(types.InvalidArgument); !ok {
			t.Errorf("%#v: %#v, want InvalidArgument", spec, soap.ToSoapFault(err).VimFault())
		}
	}
}

// ticketSource is a pull of size bytes from url with ticket as credential,
// as the Python side asks for it.
func ticketSource(ticket types.SessionManagerGenericServiceTicket, key, url string, size int64) types.HttpNfcLeaseSourceFile {
	return types.HttpNfcLeaseSourceFile{TargetDeviceId: key, Url: url, Size: size,
		SslThumbprint: ticket.SslThumbprint,
		HttpHeaders:   []types.KeyValue{{Key: "Cookie", Value: "vmware_cgi_ticket=" + ticket.Id}}}
}

// The host pulls from /folder with a ticket as its only credential, once.
func TestPullWithServiceTicket(t *testing.T) {
	e := setup(t)
	data := []byte(strings.Repeat("ticketed ", 100000))
	e.writeImage("images/pulled.vmdk", data)
	addr, counted := countingProxy(t, e.server.URL.Host)
	url := "https://" + addr + "/folder/images/pulled.vmdk?dcPath=DC0&dsName=LocalDS_0"
	ticket, err := e.ticket("httpGet", url)
	if err != nil {
		t.Fatal(err)
	}
	source := func(key string) types.HttpNfcLeaseSourceFile {
		return ticketSource(ticket, key, url, int64(len(data)))
	}
	lease, key := e.importLease("ticketed")
	if fault := e.pull(lease, source(key)); fault != nil {
		t.Fatalf("pull with a ticket: %s", faultName(fault))
	}
	if n := atomic.LoadInt64(counted); n < int64(len(data)) {
		t.Errorf("%d bytes through the proxy, want at least %d", n, len(data))
	}
	if _, err = methods.HttpNfcLeaseComplete(e.ctx, e.client.Client, &types.HttpNfcLeaseComplete{This: lease}); err != nil {
		t.Fatal(err)
	}

	lease, key = e.importLease("again")
	fault := e.pull(lease, source(key))
	if http, ok := fault.(*types.HttpFault); !ok || http.StatusCode != 401 {
		t.Errorf("second pull with the same ticket: %#v, want HttpFault 401", fault)
	}
	_, _ = methods.HttpNfcLeaseAbort(e.ctx, e.client.Client, &types.HttpNfcLeaseAbort{This: lease})
}
