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
	"testing"
	"time"

	"github.com/vmware/govmomi/vim25/methods"
	"github.com/vmware/govmomi/vim25/types"
)

// 0026: oslo.vmware completes an import lease as soon as it has sent the
// last byte; an upload whose handler has not begun by then is kept.
func TestCompleteWaitsForAnUploadNotBegun(t *testing.T) {
	e := setup(t)
	stream, disk := streamVector(t), streamDisk()

	lease, _ := e.importLease("late")
	url := e.nfcURL(lease)
	completed := make(chan error, 1)
	go func() {
		_, err := methods.HttpNfcLeaseComplete(e.ctx, e.client.Client, &types.HttpNfcLeaseComplete{This: lease})
		completed <- err
	}()
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-completed:
		t.Fatalf("HttpNfcLeaseComplete returned before the upload began: %v", err)
	default:
	}
	if status := upload(t, url, stream, len(stream)); status != 200 {
		t.Fatalf("upload begun after HttpNfcLeaseComplete: %d", status)
	}
	if err := <-completed; err != nil {
		t.Fatal(err)
	}
	e.imported("upload begun after HttpNfcLeaseComplete", "late", disk)
}
