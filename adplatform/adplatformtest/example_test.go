package adplatformtest_test

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"

	"github.com/adsync/adsync/adplatform"
	"github.com/adsync/adsync/adplatform/adplatformtest"
)

// A test starts the fake, talks to it over HTTP, and inspects what it saw.
func ExampleNewServer() {
	srv, err := adplatformtest.NewServer(adplatformtest.Options{}) // the reference platform
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	// Exchange the test credentials for a bearer token.
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/auth/token", nil)
	req.SetBasicAuth(adplatformtest.DefaultEmail, adplatformtest.DefaultPassword)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	var token struct {
		AccessToken string `json:"access_token"`
		ExpiresIn   int    `json:"expires_in"`
	}
	err = json.NewDecoder(resp.Body).Decode(&token)
	resp.Body.Close()
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("token expires in", token.ExpiresIn, "s")

	// List the first page of three campaigns.
	req, _ = http.NewRequest(http.MethodGet, srv.URL+"/api/campaigns?page=1&limit=3", nil)
	req.Header.Set("Authorization", "Bearer "+token.AccessToken)
	req.Header.Set("X-Client-ID", "example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	var page struct {
		Data       []adplatform.Campaign `json:"data"`
		Pagination struct {
			Total   int  `json:"total"`
			HasMore bool `json:"has_more"`
		} `json:"pagination"`
	}
	err = json.NewDecoder(resp.Body).Decode(&page)
	resp.Body.Close()
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range page.Data {
		fmt.Println(c.ID, c.Name, c.Status, c.Budget)
	}
	fmt.Println("total", page.Pagination.Total, "has_more", page.Pagination.HasMore)

	st := srv.Platform.Stats()
	fmt.Println("tokens issued:", st.TokensIssued, "429s:", st.RateLimited, "clients:", st.ClientIDs)
	// Output:
	// token expires in 3600 s
	// campaign_1 Campaign 1 active 1100
	// campaign_2 Campaign 2 active 1200
	// campaign_3 Campaign 3 active 1300
	// total 100 has_more true
	// tokens issued: 1 429s: 0 clients: [example]
}

// An outage, switched on and off while clients run: every /auth and /api
// request fails as told, then the platform is back with its state intact.
func ExamplePlatform_SetOutage() {
	srv, err := adplatformtest.NewServer(adplatformtest.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	login := func() int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/auth/token", nil)
		req.SetBasicAuth(adplatformtest.DefaultEmail, adplatformtest.DefaultPassword)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	if err := srv.Platform.SetOutage(adplatformtest.Outage{Status: http.StatusServiceUnavailable}); err != nil {
		log.Fatal(err)
	}
	fmt.Println("during the outage:", login(), login())
	_ = srv.Platform.SetOutage(adplatformtest.Outage{}) // back
	fmt.Println("after:", login())
	fmt.Println("failed by the outage:", srv.Platform.Stats().OutageRequests)
	// Output:
	// during the outage: 503 503
	// after: 200
	// failed by the outage: 2
}
