package rabbitmq

import (
	"testing"

	"github.com/thrun-dev/thrun/sdks/go/transport/internal/tspeer"
)

func TestInteropWithTypeScript(t *testing.T) { tspeer.Interop(t, "rabbitmq", broker) }
