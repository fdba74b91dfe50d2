package adplatform

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// decodeObject decodes a response body into v, and classifies a failure.
// A body that is not well-formed JSON (cut short, garbage, an HTML page)
// is a *DecodeError wrapping [ErrMalformedResponse]: another attempt may
// bring it whole. A body that is JSON but breaks the contract (a field of
// the wrong type, not an object) is a *DecodeError naming the field,
// which no retry changes.
func decodeObject(ep Endpoint, b []byte, v any) error {
	err := json.Unmarshal(b, v)
	if err == nil {
		return nil
	}
	var se *json.SyntaxError
	if errors.As(err, &se) || !json.Valid(b) {
		return malformedBody(ep, "", syntaxDetail(err, len(b)))
	}
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &te) && te.Field == "":
		return &DecodeError{Endpoint: ep, Err: fmt.Errorf("want a JSON object, got %s", jsonKind(b))}
	case errors.As(err, &te):
		return &DecodeError{Endpoint: ep, Field: te.Field, Err: fmt.Errorf("want %s, got %s", kindOf(te.Type), valueKind(te.Value))}
	}
	// A json.Number given a string that holds no number, say.
	return &DecodeError{Endpoint: ep, Err: errors.New("a field holds a value of the wrong kind")}
}

// syntaxDetail says where encoding/json found a body malformed.
func syntaxDetail(err error, size int) string {
	var se *json.SyntaxError
	switch {
	case errors.As(err, &se) && se.Offset >= int64(size):
		return fmt.Sprintf("ends early, at byte %d", size)
	case errors.As(err, &se):
		return fmt.Sprintf("%s at byte %d of %d", strings.TrimPrefix(se.Error(), "json: "), se.Offset, size)
	}
	return fmt.Sprintf("%d bytes", size)
}

// kindOf names what a Go type holds in JSON terms.
func kindOf(t reflect.Type) string {
	if t == reflect.TypeFor[json.Number]() {
		return "a number"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.String:
		return "a string"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return kindOf(t.Elem())
	default:
		return "a number"
	}
}

// valueKind turns an UnmarshalTypeError's Value ("bool", "number -5")
// into words, leaving out the value.
func valueKind(v string) string {
	switch kind, _, _ := strings.Cut(v, " "); kind {
	case "bool":
		return "a boolean"
	case "array", "object":
		return "an " + kind
	default:
		return "a " + kind
	}
}
